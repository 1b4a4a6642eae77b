namespace Sac.Core.Compute;

/// <summary>Element-wise nonlinearity applied after a layer's affine map.</summary>
/// <remarks>
/// Every activation here has a derivative expressible through its own output, so backward passes keep only the
/// post-activation values: ReLU' = [y &gt; 0], tanh' = 1 - y^2, identity' = 1.
/// </remarks>
public enum Activation
{
    /// <summary>No nonlinearity: <c>y = z</c>.</summary>
    Identity = 0,
    /// <summary>Rectified linear unit: <c>y = max(z, 0)</c>.</summary>
    Relu = 1,
    /// <summary>Hyperbolic tangent: <c>y = tanh(z)</c>.</summary>
    Tanh = 2,
}
