using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Xml;
using System.Xml.Linq;

namespace Sac.Core.Runs;

/// <summary>
/// Draws learning curves as a standalone SVG image: one line per <see cref="Series"/> (with its shaded band, if
/// any), axes with "nice" ticks (steps of 1, 2 or 5 times a power of ten) and their labels, axis titles, a title and
/// a legend. No plotting library is needed, and the output is always well-formed XML.
/// </summary>
/// <remarks>
/// <para>
/// Points with a non-finite coordinate are skipped; a series with a single point is drawn as a dot; a constant series
/// gets an axis centred on its value; and with no drawable point at all the chart is drawn empty with a note saying so.
/// </para>
/// <para>
/// Elements carry classes so the image can be styled or inspected: <c>plot-area</c> (the rectangle the data is drawn
/// in), <c>tick-x</c> and <c>tick-y</c> (tick labels), <c>axis-title</c>, <c>title</c>, <c>band</c>, <c>line</c>
/// (one polyline per series with at least one finite point, <c>data-series</c> being its index), <c>point</c>,
/// <c>legend-label</c> and <c>note</c>.
/// </para>
/// </remarks>
public static class SvgCurve
{
    /// <summary>The conventional file name, as <c>sac train</c> writes it.</summary>
    public const string FileName = "curve.svg";

    static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    // Matplotlib's tab10: ten colours chosen to be told apart, also by most colour-blind readers.
    static readonly string[] Palette =
    [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    ];

    const double MarginLeft = 76, MarginTop = 40, MarginBottom = 56, LegendGap = 16;

    /// <summary>Renders the chart as SVG text (UTF-8 XML with its declaration).</summary>
    /// <param name="options">Title, axis titles and size.</param>
    /// <param name="series">The curves, drawn in order with distinct colours; may be empty.</param>
    /// <returns>The SVG document.</returns>
    /// <exception cref="ArgumentNullException">An argument or a series is null.</exception>
    public static string Render(SvgCurveOptions options, IReadOnlyList<Series> series)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(series);
        for (int i = 0; i < series.Count; i++)
            if (series[i] is null) throw new ArgumentNullException(nameof(series), $"series[{i}] is null.");

        double width = options.Width, height = options.Height;
        int longestLabel = series.Count == 0 ? 0 : series.Max(s => s.Label.Length);
        // About 6.5 px per character at 11 px; the legend may take at most a third of the width.
        double legendWidth = series.Count == 0 ? 0 : Math.Clamp(34 + 6.5 * longestLabel, 80, width / 3);
        var plot = new Rect(MarginLeft, MarginTop,
            width - MarginLeft - LegendGap - legendWidth - 8,
            height - MarginTop - MarginBottom);

        var (xs, ys) = DataRange(series);
        bool empty = xs is null;
        AxisScale xAxis = NiceTicks.For(xs?.Min ?? 0, xs?.Max ?? 1);
        AxisScale yAxis = NiceTicks.For(ys?.Min ?? 0, ys?.Max ?? 1);
        double MapX(double x) => Math.Clamp(plot.X + (x - xAxis.Min) / (xAxis.Max - xAxis.Min) * plot.Width, plot.X, plot.Right);
        double MapY(double y) => Math.Clamp(plot.Bottom - (y - yAxis.Min) / (yAxis.Max - yAxis.Min) * plot.Height, plot.Y, plot.Bottom);

        var root = new XElement(Svg + "svg",
            new XAttribute("width", Num(width)), new XAttribute("height", Num(height)),
            new XAttribute("viewBox", $"0 0 {Num(width)} {Num(height)}"),
            new XAttribute("font-family", "sans-serif"), new XAttribute("font-size", "11"),
            new XElement(Svg + "rect", new XAttribute("width", "100%"), new XAttribute("height", "100%"), new XAttribute("fill", "white")));

        if (options.Title.Length > 0)
            root.Add(Text("title", plot.X + plot.Width / 2, 24, options.Title, "middle", ("font-size", "15")));

        // Grid and ticks first, so the data is drawn over them.
        var grid = new XElement(Svg + "g", new XAttribute("class", "grid"), new XAttribute("stroke", "#e5e5e5"), new XAttribute("stroke-width", "1"));
        var xTicks = new XElement(Svg + "g", new XAttribute("class", "x-axis"));
        var yTicks = new XElement(Svg + "g", new XAttribute("class", "y-axis"));
        for (int i = 0; i < xAxis.Ticks.Length; i++)
        {
            double px = MapX(xAxis.Ticks[i]);
            grid.Add(Line(px, plot.Y, px, plot.Bottom));
            xTicks.Add(Line(px, plot.Bottom, px, plot.Bottom + 5, "#444"));
            xTicks.Add(Text("tick-x", px, plot.Bottom + 18, xAxis.Labels[i], "middle"));
        }
        for (int i = 0; i < yAxis.Ticks.Length; i++)
        {
            double py = MapY(yAxis.Ticks[i]);
            grid.Add(Line(plot.X, py, plot.Right, py));
            yTicks.Add(Line(plot.X - 5, py, plot.X, py, "#444"));
            yTicks.Add(Text("tick-y", plot.X - 8, py + 4, yAxis.Labels[i], "end"));
        }
        root.Add(grid);
        root.Add(new XElement(Svg + "rect", new XAttribute("class", "plot-area"),
            new XAttribute("x", Num(plot.X)), new XAttribute("y", Num(plot.Y)),
            new XAttribute("width", Num(plot.Width)), new XAttribute("height", Num(plot.Height)),
            new XAttribute("fill", "none"), new XAttribute("stroke", "#444")));
        xTicks.Add(Text("axis-title", plot.X + plot.Width / 2, plot.Bottom + 40, options.XLabel, "middle", ("font-size", "12")));
        double yTitleX = 18, yTitleY = plot.Y + plot.Height / 2;
        yTicks.Add(Text("axis-title", yTitleX, yTitleY, options.YLabel, "middle",
            ("font-size", "12"), ("transform", $"rotate(-90 {Num(yTitleX)} {Num(yTitleY)})")));
        root.Add(xTicks, yTicks);

        var bands = new XElement(Svg + "g", new XAttribute("class", "bands"));
        var lines = new XElement(Svg + "g", new XAttribute("class", "lines"), new XAttribute("fill", "none"));
        var legend = new XElement(Svg + "g", new XAttribute("class", "legend"));
        for (int s = 0; s < series.Count; s++)
        {
            Series curve = series[s];
            string colour = Colour(s);

            if (curve.Band is { } band)
            {
                var edge = band.Where(b => double.IsFinite(b.X) && double.IsFinite(b.Low) && double.IsFinite(b.High)).ToList();
                if (edge.Count >= 2)
                {
                    // The upper edge left to right, then the lower edge back: one closed outline.
                    var outline = edge.Select(b => (MapX(b.X), MapY(b.High)))
                        .Concat(Enumerable.Reverse(edge).Select(b => (MapX(b.X), MapY(b.Low))));
                    bands.Add(new XElement(Svg + "polygon", new XAttribute("class", "band"), new XAttribute("data-series", s),
                        new XAttribute("points", Points(outline)), new XAttribute("fill", colour),
                        new XAttribute("fill-opacity", "0.2"), new XAttribute("stroke", "none")));
                }
            }

            var finite = curve.Points.Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y)).Select(p => (MapX(p.X), MapY(p.Y))).ToList();
            if (finite.Count > 0)
                lines.Add(new XElement(Svg + "polyline", new XAttribute("class", "line"), new XAttribute("data-series", s),
                    new XAttribute("points", Points(finite)), new XAttribute("stroke", colour),
                    new XAttribute("stroke-width", "1.75"), new XAttribute("stroke-linejoin", "round")));
            // A one-point polyline draws nothing; a dot shows the point is there.
            if (finite.Count == 1)
                lines.Add(new XElement(Svg + "circle", new XAttribute("class", "point"), new XAttribute("data-series", s),
                    new XAttribute("cx", Num(finite[0].Item1)), new XAttribute("cy", Num(finite[0].Item2)),
                    new XAttribute("r", "3"), new XAttribute("fill", colour)));

            double ly = plot.Y + 10 + 18 * s, lx = plot.Right + LegendGap;
            legend.Add(Line(lx, ly, lx + 22, ly, colour, "2.5"));
            legend.Add(Text("legend-label", lx + 28, ly + 4, curve.Label, "start"));
        }
        root.Add(bands, lines, legend);

        if (empty)
            root.Add(Text("note", plot.X + plot.Width / 2, plot.Y + plot.Height / 2,
                series.Count == 0 ? "no data: no series to draw" : "no data: no finite points to draw", "middle",
                ("fill", "#777"), ("font-size", "13")));

        return "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n" + root.ToString(SaveOptions.None) + "\n";
    }

    /// <summary>Renders the chart and writes it to <paramref name="path"/> atomically (via <c>path + ".tmp"</c>, like checkpoints), as UTF-8.</summary>
    /// <param name="path">The SVG file to create or replace; its directory must exist.</param>
    /// <param name="options">Title, axis titles and size.</param>
    /// <param name="series">The curves; may be empty.</param>
    /// <exception cref="ArgumentNullException">An argument or a series is null.</exception>
    /// <exception cref="System.IO.IOException">The file cannot be written; a previous file there is unchanged.</exception>
    public static void Write(string path, SvgCurveOptions options, IReadOnlyList<Series> series) =>
        AtomicFile.WriteText(path, Render(options, series));

    /// <summary>The ranges of every finite coordinate (points and bands), or nulls when there is none.</summary>
    static ((double Min, double Max)? X, (double Min, double Max)? Y) DataRange(IReadOnlyList<Series> series)
    {
        double xMin = double.PositiveInfinity, xMax = double.NegativeInfinity;
        double yMin = double.PositiveInfinity, yMax = double.NegativeInfinity;
        void Include(double x, double y)
        {
            xMin = Math.Min(xMin, x); xMax = Math.Max(xMax, x);
            yMin = Math.Min(yMin, y); yMax = Math.Max(yMax, y);
        }
        foreach (Series s in series)
        {
            foreach (var (x, y) in s.Points)
                if (double.IsFinite(x) && double.IsFinite(y)) Include(x, y);
            if (s.Band is null) continue;
            foreach (var (x, low, high) in s.Band)
                if (double.IsFinite(x) && double.IsFinite(low) && double.IsFinite(high))
                {
                    Include(x, low);
                    Include(x, high);
                }
        }
        return xMin > xMax ? (null, null) : ((xMin, xMax), (yMin, yMax));
    }

    /// <summary>The colour of series <paramref name="index"/>: the palette, then hues spaced by the golden angle so later series stay distinct.</summary>
    static string Colour(int index)
    {
        if (index < Palette.Length) return Palette[index];
        double hue = (index * 137.508) % 360;
        return $"hsl({Num(hue)},65%,{(index % 2 == 0 ? 40 : 55)}%)";
    }

    static XElement Line(double x1, double y1, double x2, double y2, string? stroke = null, string? strokeWidth = null)
    {
        var line = new XElement(Svg + "line",
            new XAttribute("x1", Num(x1)), new XAttribute("y1", Num(y1)),
            new XAttribute("x2", Num(x2)), new XAttribute("y2", Num(y2)));
        if (stroke is not null) line.Add(new XAttribute("stroke", stroke));
        if (strokeWidth is not null) line.Add(new XAttribute("stroke-width", strokeWidth));
        return line;
    }

    static XElement Text(string cssClass, double x, double y, string content, string anchor, params (string Name, string Value)[] extra)
    {
        var text = new XElement(Svg + "text", new XAttribute("class", cssClass),
            new XAttribute("x", Num(x)), new XAttribute("y", Num(y)), new XAttribute("text-anchor", anchor),
            XmlSafe(content));
        foreach (var (name, value) in extra) text.Add(new XAttribute(name, value));
        return text;
    }

    static string Points(IEnumerable<(double X, double Y)> points) =>
        string.Join(" ", points.Select(p => Num(p.X) + "," + Num(p.Y)));

    static string Num(double value) => value.ToString("0.##", CultureInfo.InvariantCulture);

    /// <summary>The text with every character XML 1.0 forbids (control characters, lone surrogates) replaced by U+FFFD.</summary>
    static string XmlSafe(string text)
    {
        StringBuilder? safe = null;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (XmlConvert.IsXmlChar(c))
            {
                safe?.Append(c);
                continue;
            }
            if (i + 1 < text.Length && XmlConvert.IsXmlSurrogatePair(text[i + 1], c))
            {
                safe?.Append(c).Append(text[i + 1]);
                i++;
                continue;
            }
            safe ??= new StringBuilder(text, 0, i, text.Length);
            safe.Append('\uFFFD');
        }
        return safe?.ToString() ?? text;
    }

    readonly record struct Rect(double X, double Y, double Width, double Height)
    {
        public double Right => X + Width;

        public double Bottom => Y + Height;
    }
}
