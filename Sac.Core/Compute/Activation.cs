namespace Sac.Core.Compute;

/// <summary>Element-wise nonlinearity applied after a layer's affine map.</summary>
/// <remarks>
/// Every activation here has a derivative expressible through its own output, so backward passes keep only the
/// post-activation values: ReLU' = [y &gt; 0], tanh' = 1 - y^2, identity' = 1, ELU' = 1 for y &gt; 0 and y + 1
/// otherwise, LeakyReLU' = 1 for y &gt; 0 and 0.01 otherwise. At exactly z = 0 the piecewise ones take the
/// derivative of their negative piece, as ReLU does (its 0 there): LeakyReLU's is 0.01 and ELU's is 1 (its two
/// pieces meet with slope 1, so that choice is also the true derivative). The names and constants are PyTorch's
/// defaults (<c>nn.ELU(alpha=1)</c>, <c>nn.LeakyReLU(negative_slope=0.01)</c>), Stable-Baselines3's <c>activation_fn</c>.
/// </remarks>
public enum Activation
{
    /// <summary>No nonlinearity: <c>y = z</c>.</summary>
    Identity = 0,
    /// <summary>Rectified linear unit: <c>y = max(z, 0)</c>.</summary>
    Relu = 1,
    /// <summary>Hyperbolic tangent: <c>y = tanh(z)</c>.</summary>
    Tanh = 2,
    /// <summary>Exponential linear unit with alpha = 1 (Clevert et al. 2016): <c>y = z</c> for <c>z &gt; 0</c>, <c>exp(z) - 1</c> otherwise.</summary>
    Elu = 3,
    /// <summary>Leaky rectifier with negative slope 0.01 (Maas et al. 2013): <c>y = z</c> for <c>z &gt; 0</c>, <c>0.01 z</c> otherwise.</summary>
    LeakyRelu = 4,
}
