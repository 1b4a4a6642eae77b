namespace Sac.Fs

/// <summary>What one Soft Q-Learning update reports.</summary>
[<Struct>]
type SqlMetrics =
    { /// <summary>The soft Bellman residual, mean 0.5 (Q(s, a) - y)^2.</summary>
      QLoss: float32
      /// <summary>The SVGD sampler's surrogate loss (its gradient is the amortised SVGD direction).</summary>
      SvgdLoss: float32
      /// <summary>Mean Q(s, a) over the batch.</summary>
      MeanQ: float32
      /// <summary>The (fixed) temperature alpha.</summary>
      Alpha: float32 }
