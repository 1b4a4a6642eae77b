namespace Sac.Sweeps;

/// <summary>
/// How silos find each other (the membership provider) and clients find the silos: <c>localhost</c>, Orleans'
/// development clustering for one machine (a primary silo holds the membership table, so the cluster lives as long
/// as that silo does), or <c>redis://HOST:PORT</c>, Orleans' Redis membership provider for many machines.
/// </summary>
/// <param name="Redis">The Redis connection string (HOST:PORT[,options]); null for localhost clustering.</param>
public sealed record ClusterAddress(string? Redis)
{
    /// <summary>Development clustering on this machine.</summary>
    public static readonly ClusterAddress Localhost = new((string?)null);

    /// <summary>Whether this is development clustering on this machine.</summary>
    public bool IsLocalhost => Redis is null;

    /// <summary>Reads <c>localhost</c> or <c>redis://HOST:PORT[,options]</c>.</summary>
    /// <param name="text">The --cluster value.</param>
    /// <param name="address">The address, when the text is one.</param>
    /// <param name="problem">What is wrong, when it is not.</param>
    /// <returns>Whether the text is an address.</returns>
    public static bool TryParse(string text, out ClusterAddress address, out string problem)
    {
        address = Localhost;
        problem = "";
        if (text == "localhost") return true;
        const string scheme = "redis://";
        if (text.StartsWith(scheme, StringComparison.Ordinal) && text.Length > scheme.Length)
        {
            address = new ClusterAddress(text[scheme.Length..]);
            return true;
        }
        problem = $"--cluster {text}: expected localhost or redis://HOST:PORT";
        return false;
    }

    /// <inheritdoc />
    public override string ToString() => Redis is null ? "localhost" : "redis://" + Redis;
}
