/// The test program: every test in one tree that mirrors the source (Core: Sac.Core, Fs: Sac.Fs, Cuda: Sac.Cuda,
/// Cli: Sac.Cli), run by Expecto. Tests run in parallel; those that share process-wide state run one at a time.
module Main

open Expecto

let tests =
    TestList(
        [ testList "Core" [
            testList "Compute" [ GemmTests.tests; TensorTests.tests; FusedOpsTests.tests ]
            testList "Random" [ PhiloxTests.tests ]
            testList "Optim" [
                AdamTests.tests
                SgdTests.tests
                PolyakTests.tests
                GradientClippingTests.tests
                OptimChecksTests.tests ]
            testList "Networks" [ MlpTests.tests ]
            testList "Data" [ ReplayTests.tests; VecNormalizeTests.tests ]
            testList "Config" [ SacConfigTests.tests; DqnConfigTests.tests; SqlConfigTests.tests; LearningRateScheduleTests.tests ]
            testList "Environments" [
                BoxTests.tests
                PendulumTests.tests
                MountainCarContinuousTests.tests
                PointGoalTests.tests
                CartPoleTests.tests
                MultiGoalTests.tests
                TimeLimitTests.tests
                RescaleActionTests.tests
                IEnvironmentTests.tests
                EnvironmentCheckTests.tests
                // Registers environments of its own in the process-wide registry.
                testSequencedGroup "EnvironmentRegistry" EnvironmentRegistryTests.tests
                // One native library, one error handler: these run one at a time.
                testSequencedGroup "MuJoCo" MuJoCoTests.tests ]
            testList "Runs" [
                Crc32Tests.tests
                CheckpointTests.tests
                ConfigJsonTests.tests
                MetricsCsvTests.tests
                SvgCurveTests.tests
                TensorFileTests.tests
                DqnCheckpointTests.tests
                SqlCheckpointTests.tests ] ]
          testList "Fs" [
            TanhGaussianTests.tests
            GsdeTests.tests
            SoftBellmanTests.tests
            LossesTests.tests
            SacNetworksTests.tests
            SacTests.tests
            DeviceSacTests.tests
            ResumeTests.tests
            SacTrainerTests.tests
            DqnTests.tests
            DqnTrainerTests.tests
            SoftQLearningTests.tests
            SvgdTests.tests
            SqlTrainerTests.tests
            testList "Engine" [ RolloutTests.tests; LearningRateTests.tests; VectorisedEnvironmentsTests.tests; NormalizationTests.tests ]
            SacAgentTests.tests
            testList "Export" [ ExportTests.tests ]
            // `sac solve` is checked on a redirected Console.Out, which is process-wide: alone, after the rest.
            testList "Tabular" [ testSequenced SoftDpTests.tests ] ]
          testList "Cuda" [
            // The fake driver's calls, launches and failures are its global state: one test at a time.
            testSequencedGroup "fake CUDA driver" CudaDriverTests.tests
            CudaKernelTests.tests
            // The backend's own copy of the fake driver, likewise.
            testSequencedGroup "fake CUDA backend" CudaBackendTests.tests ]
          testList "Cli" [
            PlotTests.tests
            // Registers HugeReward-v0 and runs `sac` in-process and as a child it signals.
            testSequencedGroup "Hardening" HardeningTests.tests
            SweepTests.tests ]
          XmlDocTests.tests ],
        Normal
    )

[<EntryPoint>]
let main argv = runTestsWithCLIArgs [] argv tests
