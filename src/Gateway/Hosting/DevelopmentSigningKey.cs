using System.Security.Cryptography;
using System.Text;

namespace SseCluster.Gateway.Hosting;

/// <summary>
/// The HS256 key of a developer's machine: 256 random bits, made on the first Development start without a configured
/// key and kept in <c>$XDG_DATA_HOME/SseCluster/dev-signing-key</c> (else <c>~/.local/share/…</c>; <c>%LOCALAPPDATA%</c>
/// on Windows), readable by its owner only. Every gateway this user starts on this machine shares it, and it is never
/// in the repository, so a token minted here is worthless anywhere else. Known development keys are refused outside
/// Development (<see cref="StartupSafetyValidator"/>).
/// </summary>
internal static class DevelopmentSigningKey
{
    /// <summary>The key <c>appsettings.Development.json</c> once carried: public, so it may sign nothing outside Development.</summary>
    public const string FormerlyCommitted = "development-only-signing-key-change-me-0123456789";

    /// <summary>Where the key is kept; null when this user has no data directory (no HOME).</summary>
    public static string? FilePath =>
        Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify) is { Length: > 0 } data
            ? Path.Combine(data, "SseCluster", "dev-signing-key")
            : null;

    /// <summary>Reads the key, creating it first if this machine has none.</summary>
    /// <exception cref="InvalidOperationException">The key cannot be read or written; the message says where and what to do.</exception>
    public static string LoadOrCreate()
    {
        var path = FilePath ?? throw new InvalidOperationException(
            "SseCluster:Auth:SigningKey is not set and this user has no data directory (HOME) for a development key; set SseCluster:Auth:SigningKey");
        try
        {
            if (Read(path) is { } existing)
            {
                return existing;
            }

            var directory = Path.GetDirectoryName(path)!;
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(directory);
            }
            else
            {
                Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }

            // Written whole under another name and renamed: gateways starting together (deploy/local-cluster.sh) never
            // read half a key, and the first rename wins for all of them.
            var key = Base64Url(RandomNumberGenerator.GetBytes(32));
            var temporary = $"{path}.{Environment.ProcessId}.tmp";
            var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            using (var file = new FileStream(temporary, create))
            {
                file.Write(Encoding.ASCII.GetBytes(key + "\n"));
                file.Flush(flushToDisk: true);
            }

            try
            {
                File.Move(temporary, path, overwrite: false);
            }
            catch (IOException) when (File.Exists(path))
            {
                File.Delete(temporary); // another gateway made it first: use theirs
            }

            return Read(path) ?? throw new InvalidOperationException($"the development signing key {path} is empty");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException(
                $"SseCluster:Auth:SigningKey is not set and the development key {path} cannot be read or created ({ex.Message}); set SseCluster:Auth:SigningKey");
        }
    }

    /// <summary>The key of this machine if it has one; nothing is created.</summary>
    public static string? ReadExisting()
    {
        try
        {
            return FilePath is { } path ? Read(path) : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>True for a key that is public (the formerly committed one) or made for development on this machine.</summary>
    public static bool IsKnown(string? key) =>
        key is { Length: > 0 }
        && (key == FormerlyCommitted || (ReadExisting() is { } machine && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes(machine))));

    private static string? Read(string path) =>
        File.Exists(path) && File.ReadAllText(path).Trim() is { Length: > 0 } key ? key : null;

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
