/// FsCheck properties as Expecto tests: the FsCheck configuration a test states, in Expecto's terms.
module Properties

open Expecto

/// Expecto's FsCheck configuration with the test count, sizes and replay seed of an FsCheck one; a property that
/// fails is reported with the seed that replays it.
let ofFsCheck (config: FsCheck.Config) : FsCheckConfig =
    { FsCheckConfig.defaultConfig with
        maxTest = config.MaxTest
        startSize = config.StartSize
        endSize = config.EndSize
        replay = config.Replay |> Option.map (fun r -> r.Rnd.Seed, r.Rnd.Gamma, r.Size) }
