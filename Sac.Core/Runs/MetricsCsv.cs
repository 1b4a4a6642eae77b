using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;

namespace Sac.Core.Runs;

/// <summary>
/// Writes training metrics as CSV, one row per call, each row flushed at once so a killed run keeps every row it
/// finished. Numbers use the invariant culture and round-trip exactly; a missing value is an empty field.
/// </summary>
/// <remarks>
/// The format is deliberately plain: the header row, then one line per row, fields separated by commas, lines ended by
/// <c>\n</c>. Column names may not contain commas, quotes or line breaks, and numbers never do, so no quoting is
/// needed. Not thread-safe: one writer.
/// </remarks>
public sealed class MetricsCsv : IDisposable
{
    /// <summary>The columns <c>sac train</c> writes to <c>metrics.csv</c>, in order.</summary>
    public static IReadOnlyList<string> TrainingColumns { get; } =
    [
        "step", "episode", "episode_return", "episode_length", "eval_return", "eval_std",
        "critic_loss", "actor_loss", "alpha", "entropy", "updates_per_sec", "wall_seconds",
    ];

    /// <summary>The conventional file name, as <c>sac train</c> writes it.</summary>
    public const string FileName = "metrics.csv";

    readonly StreamWriter writer;
    readonly string[] columns;
    readonly Dictionary<string, int> index;
    readonly StringBuilder line = new();
    bool disposed;

    /// <summary>Creates (or replaces) the file at <paramref name="path"/> and writes the header row.</summary>
    /// <param name="path">The CSV file; its directory must exist. An existing file there is replaced.</param>
    /// <param name="columns">Column names in order: at least one, distinct, not blank, without commas, quotes or line breaks.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">A column name is invalid or repeated (the message names it), or <paramref name="path"/> is empty.</exception>
    /// <exception cref="IOException">The file cannot be created.</exception>
    public MetricsCsv(string path, IReadOnlyList<string> columns) : this(path, columns, append: false) { }

    MetricsCsv(string path, IReadOnlyList<string> columns, bool append)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(columns);
        if (columns.Count == 0)
            throw new ArgumentException("A metrics file needs at least one column.", nameof(columns));
        this.columns = new string[columns.Count];
        index = new Dictionary<string, int>(columns.Count, StringComparer.Ordinal);
        for (int i = 0; i < columns.Count; i++)
        {
            string name = columns[i];
            if (string.IsNullOrWhiteSpace(name) || name.AsSpan().IndexOfAny(",\"\r\n") >= 0 || name.Trim() != name)
                throw new ArgumentException(
                    $"columns[{i}] is {(name is null ? "null" : $"'{name}'")}; a column name must be non-blank, without surrounding spaces, commas, quotes or line breaks.",
                    nameof(columns));
            if (!index.TryAdd(name, i))
                throw new ArgumentException($"columns[{i}] '{name}' repeats columns[{index[name]}].", nameof(columns));
            this.columns[i] = name;
        }

        Path = path;
        // FileShare.Read so a plot or a `tail` can follow the run while it writes.
        var stream = new FileStream(path, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.Read);
        try
        {
            writer = new StreamWriter(stream, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false)) { NewLine = "\n" };
            if (!append) writer.WriteLine(string.Join(',', this.columns));
            writer.Flush();
        }
        catch
        {
            // A constructor that throws has no Dispose to close the file for it.
            stream.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Continues the metrics of a resumed run: rewrites <paramref name="path"/> atomically, keeping its header and the
    /// complete rows whose <c>step</c> is at most <paramref name="throughStep"/> (rows a killed run wrote after its
    /// checkpoint, and a last line it cut short, are dropped), then opens it for appending.
    /// </summary>
    /// <param name="path">The run's existing metrics file.</param>
    /// <param name="columns">The columns it must have, in order.</param>
    /// <param name="throughStep">The step the run resumes from.</param>
    /// <returns>A writer appending after the kept rows; a missing file is created with its header.</returns>
    /// <exception cref="FormatException">The file's header differs from <paramref name="columns"/>, or a kept row's step is not a number.</exception>
    public static MetricsCsv Continue(string path, IReadOnlyList<string> columns, long throughStep)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(columns);
        if (!File.Exists(path)) return new MetricsCsv(path, columns);
        string header = string.Join(',', columns);
        string text = File.ReadAllText(path, Encoding.UTF8);
        string[] lines = text.Split('\n');
        if (lines[0] != header)
            throw new FormatException($"{path}: its header is '{lines[0]}', expected '{header}'.");
        int stepAt = -1;
        for (int c = 0; c < columns.Count; c++)
            if (columns[c] == "step") stepAt = c;
        var kept = new StringBuilder(text.Length);
        kept.Append(header).Append('\n');
        // The last element follows the final newline: empty for a complete file, a cut-short row otherwise.
        for (int i = 1; i < lines.Length - 1; i++)
        {
            string row = lines[i];
            if (stepAt >= 0)
            {
                string[] cells = row.Split(',');
                if (cells.Length != columns.Count || !double.TryParse(cells[stepAt], NumberStyles.Float, CultureInfo.InvariantCulture, out double step))
                    throw new FormatException($"{path}, line {i + 1}: not a row of {columns.Count} columns with a numeric step: '{row}'.");
                if (step > throughStep) continue;
            }
            kept.Append(row).Append('\n');
        }
        AtomicFile.WriteText(path, kept.ToString());
        return new MetricsCsv(path, columns, append: true);
    }

    /// <summary>The file being written.</summary>
    public string Path { get; }

    /// <summary>The column names, in order.</summary>
    public IReadOnlyList<string> Columns => columns;

    /// <summary>Rows written so far, not counting the header.</summary>
    public long RowCount { get; private set; }

    /// <summary>Writes one row, one value per column in column order, and flushes it. <see cref="double.NaN"/> means missing and is written as an empty field.</summary>
    /// <param name="values">The row; exactly as many values as there are columns.</param>
    /// <exception cref="ArgumentException">The number of values differs from the number of columns.</exception>
    /// <exception cref="ObjectDisposedException">The writer was disposed.</exception>
    public void Append(ReadOnlySpan<double> values)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (values.Length != columns.Length)
            throw new ArgumentException($"The row has {values.Length} values but {Path} has {columns.Length} columns ({string.Join(", ", columns)}).", nameof(values));
        line.Clear();
        for (int i = 0; i < values.Length; i++)
        {
            if (i > 0) line.Append(',');
            AppendValue(values[i]);
        }
        WriteLine();
    }

    /// <summary>Writes one row from named values and flushes it; columns not in <paramref name="values"/> (or NaN) are written as empty fields.</summary>
    /// <param name="values">Values by column name; every name must be a column (a typo is an error, not a silently dropped metric).</param>
    /// <exception cref="ArgumentNullException"><paramref name="values"/> is null.</exception>
    /// <exception cref="ArgumentException">A name is not a column (the message names it and lists the columns).</exception>
    /// <exception cref="ObjectDisposedException">The writer was disposed.</exception>
    public void Append(IReadOnlyDictionary<string, double> values)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentNullException.ThrowIfNull(values);
        foreach (string name in values.Keys)
            if (!index.ContainsKey(name))
                throw new ArgumentException($"'{name}' is not a column of {Path}; the columns are {string.Join(", ", columns)}.", nameof(values));
        line.Clear();
        for (int i = 0; i < columns.Length; i++)
        {
            if (i > 0) line.Append(',');
            if (values.TryGetValue(columns[i], out double value)) AppendValue(value);
        }
        WriteLine();
    }

    /// <summary>Flushes and closes the file.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        writer.Dispose();
    }

    void AppendValue(double value)
    {
        // "R" gives the shortest text that parses back to the same double; infinities become "Infinity".
        if (!double.IsNaN(value)) line.Append(value.ToString("R", CultureInfo.InvariantCulture));
    }

    void WriteLine()
    {
        line.Append('\n');
        writer.Write(line);
        writer.Flush();
        RowCount++;
    }

    /// <summary>
    /// Reads a metrics file: the header and every complete row. An empty field is null. A last line without its
    /// <c>\n</c> is a row the writer was interrupted in, and is left out.
    /// </summary>
    /// <param name="path">The CSV file.</param>
    /// <returns>The column names and the rows, each with one entry per column.</returns>
    /// <exception cref="FileNotFoundException">No file exists at <paramref name="path"/>.</exception>
    /// <exception cref="FormatException">The file has no header, a row has the wrong number of fields, or a field is not a number (the message names the file, line and column).</exception>
    public static (string[] Columns, double?[][] Rows) Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path}: no metrics file exists at this path.", path);
        string text;
        // FileShare.ReadWrite: the run may still be appending.
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
        using (var reader = new StreamReader(stream, Encoding.UTF8))
            text = reader.ReadToEnd();

        string[] lines = text.Split('\n');
        // Everything after the last '\n' is an unfinished line (or nothing).
        int complete = lines.Length - 1;
        if (complete < 1)
            throw new FormatException($"{path}: no header row; a metrics file starts with a line of column names.");
        string[] header = lines[0].TrimEnd('\r').Split(',');
        var rows = new double?[complete - 1][];
        for (int l = 1; l < complete; l++)
        {
            string[] fields = lines[l].TrimEnd('\r').Split(',');
            if (fields.Length != header.Length)
                throw new FormatException($"{path}: line {l + 1} has {fields.Length} fields but the header has {header.Length}.");
            var row = new double?[fields.Length];
            for (int c = 0; c < fields.Length; c++)
            {
                string field = fields[c];
                if (field.Length == 0) continue;
                if (!double.TryParse(field, NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
                    throw new FormatException($"{path}: line {l + 1}, column '{header[c]}': '{field}' is not a number.");
                row[c] = value;
            }
            rows[l - 1] = row;
        }
        return (header, rows);
    }
}
