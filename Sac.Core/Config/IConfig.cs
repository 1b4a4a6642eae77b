using System.Collections.Generic;

namespace Sac.Core.Config;

/// <summary>A configuration record that can check itself as a whole (each field is also checked when it is set).</summary>
public interface IConfig
{
    /// <summary>Every problem with the configuration, each naming its field; empty when it is valid.</summary>
    IReadOnlyList<string> Validate();
}
