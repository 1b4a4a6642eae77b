using System;
using System.IO;

namespace Sac.Core.Runs;

/// <summary>
/// Replaces a file all at once: the new contents go to <c>path + ".tmp"</c> in the same directory, are flushed to the
/// disk, and only then renamed over <c>path</c>. A crash or an exception while writing leaves the previous file as it
/// was, never a half-written one under the real name.
/// </summary>
/// <remarks>
/// The rename is atomic because source and target are in one directory, hence on one file system. The directory
/// entry itself is not synced (.NET offers no portable way), so after a power cut the rename may be lost, but then
/// the old file is still there, whole.
/// </remarks>
public static class AtomicFile
{
    /// <summary>The suffix of the temporary file written beside the target.</summary>
    public const string TemporarySuffix = ".tmp";

    /// <summary>
    /// Writes a file atomically: calls <paramref name="write"/> with a stream on <c>path + ".tmp"</c>, flushes it to
    /// the disk and renames it to <paramref name="path"/>, replacing any file there. If <paramref name="write"/> or
    /// any step throws, the temporary file is deleted (best effort), <paramref name="path"/> is untouched and the
    /// exception propagates.
    /// </summary>
    /// <param name="path">The file to create or replace. Its directory must exist.</param>
    /// <param name="write">Writes the complete new contents to the stream it is given; it must not close the stream.</param>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty or names a directory.</exception>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="IOException">The temporary file cannot be created or renamed (the message says which).</exception>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        if (Directory.Exists(path))
            throw new ArgumentException($"'{path}' is a directory; expected a file path.", nameof(path));
        string temporary = path + TemporarySuffix;
        try
        {
            using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                // Flush through the OS cache before the rename, or a crash could leave the new name on empty blocks.
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    /// <summary>Writes <paramref name="contents"/> as UTF-8 (without a byte-order mark) to <paramref name="path"/>, atomically as <see cref="Write(string, Action{Stream})"/>.</summary>
    /// <param name="path">The file to create or replace. Its directory must exist.</param>
    /// <param name="contents">The text to write.</param>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty or names a directory.</exception>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="IOException">The temporary file cannot be created or renamed.</exception>
    public static void WriteText(string path, string contents)
    {
        ArgumentNullException.ThrowIfNull(contents);
        byte[] bytes = new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(contents);
        Write(path, stream => stream.Write(bytes));
    }

    static void TryDelete(string temporary)
    {
        try
        {
            // A directory of that name is not ours to delete (it is also why the write failed).
            if (File.Exists(temporary)) File.Delete(temporary);
        }
        catch (IOException)
        {
            // The original exception matters more than a leftover temporary file, which the next save overwrites.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
