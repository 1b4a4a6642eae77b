using System;

namespace Sac.Core.Runs;

/// <summary>
/// Text and size of a <see cref="SvgCurve"/> chart. Every property is checked when it is set, and a bad value throws
/// <see cref="ArgumentException"/> naming it.
/// </summary>
public sealed record SvgCurveOptions
{
    /// <summary>The chart title, drawn above the plot; not null (empty for none). Default "learning curve".</summary>
    public string Title { get; init => field = NotNull(value, nameof(Title)); } = "learning curve";

    /// <summary>The x-axis title; not null. Default "environment steps".</summary>
    public string XLabel { get; init => field = NotNull(value, nameof(XLabel)); } = "environment steps";

    /// <summary>The y-axis title; not null. Default "return".</summary>
    public string YLabel { get; init => field = NotNull(value, nameof(YLabel)); } = "return";

    /// <summary>Width of the image in pixels; in <c>[320, 8000]</c>. Default 720.</summary>
    public int Width { get; init => field = InRange(value, 320, 8000, nameof(Width)); } = 720;

    /// <summary>Height of the image in pixels; in <c>[200, 8000]</c>. Default 420.</summary>
    public int Height { get; init => field = InRange(value, 200, 8000, nameof(Height)); } = 420;

    static string NotNull(string value, string name) =>
        value ?? throw new ArgumentNullException(name, $"{name} must not be null; use \"\" for none.");

    static int InRange(int value, int min, int max, string name) =>
        value >= min && value <= max ? value : throw new ArgumentException($"{name} must lie in [{min}, {max}] pixels, got {value}.", name);
}
