namespace Sac.Fs

/// <summary>What one SAC update reports.</summary>
[<Struct>]
type SacMetrics =
    { /// <summary>Sum over both critics of the mean 0.5 (Q - y)^2.</summary>
      CriticLoss: float32
      /// <summary>Mean alpha log pi - min Q at the reparameterised action.</summary>
      ActorLoss: float32
      /// <summary>Temperature loss (0 with a fixed alpha).</summary>
      AlphaLoss: float32
      /// <summary>SAC v1 value loss (0 for v2).</summary>
      ValueLoss: float32
      /// <summary>The temperature this update used.</summary>
      Alpha: float32
      /// <summary>Policy entropy estimate, -mean log pi over the batch.</summary>
      Entropy: float32
      /// <summary>Mean Q1 over the batch's (s, a).</summary>
      MeanQ: float32 }
