using System;
using System.Collections.Generic;

namespace Sac.Core.Runs;

/// <summary>
/// One curve of a <see cref="SvgCurve"/> chart: labelled points joined by a line in input order, with an optional
/// shaded band (for example mean ± standard deviation over seeds). Points or band entries with a non-finite
/// coordinate are skipped.
/// </summary>
/// <param name="Label">The legend text; not null.</param>
/// <param name="Points">The points, in the order the line visits them; not null, may be empty.</param>
/// <param name="Band">The band: at each <c>X</c>, the interval <c>[Low, High]</c>; null for none.</param>
public sealed record Series(
    string Label,
    IReadOnlyList<(double X, double Y)> Points,
    IReadOnlyList<(double X, double Low, double High)>? Band = null)
{
    /// <summary>The legend text; not null.</summary>
    public string Label { get; init => field = value ?? throw new ArgumentNullException(nameof(Label), "Label must not be null."); }
        = Label ?? throw new ArgumentNullException(nameof(Label), "Label must not be null.");

    /// <summary>The points, in the order the line visits them; not null.</summary>
    public IReadOnlyList<(double X, double Y)> Points { get; init => field = value ?? throw new ArgumentNullException(nameof(Points), "Points must not be null; pass an empty list for no points."); }
        = Points ?? throw new ArgumentNullException(nameof(Points), "Points must not be null; pass an empty list for no points.");
}
