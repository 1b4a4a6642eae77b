namespace Sac.Fs
/// <summary>Version marker.</summary>
module Info = 
    /// <summary>Library version.</summary>
    let version = "0.1.0"
