/// The MuJoCo binding and the Gymnasium v4 locomotion environments. Skipped, with the reason, where libmujoco2.2.2 is
/// not installed (CI installs it).
module MuJoCoTests

open System
open System.Diagnostics
open System.IO
open Xunit
open Expecto
open FsCheck
open FsCheck.FSharp
open Sac.Core.Environments
open Sac.Core.Environments.MuJoCo

/// A test that needs libmujoco; skipped with the reason where it does not load.
let private mujocoCase =
    Conditional.testCaseWhere (fun () ->
        if MuJoCoRuntime.IsAvailable then None else Some("MuJoCo unavailable: " + MuJoCoRuntime.UnavailableReason))

let private repoRoot =
    lazy
        (let rec up (d: DirectoryInfo | null) =
            match d with
            | null -> failwith "repository root (Sac.Functional.sln) not found"
            | d when File.Exists(Path.Combine(d.FullName, "Sac.Functional.sln")) -> d.FullName
            | d -> up d.Parent
         up (DirectoryInfo AppContext.BaseDirectory))

let private run (file: string) (args: string) (env: (string * string) list) =
    let psi = ProcessStartInfo(file, args, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)
    for k, v in env do psi.Environment[k] <- v
    use p = nonNull (Process.Start psi)
    let out = p.StandardOutput.ReadToEndAsync()
    let err = p.StandardError.ReadToEnd()
    if not (p.WaitForExit 120_000) then p.Kill true; failwith $"{file} {args} did not finish"
    p.ExitCode, out.Result, err

// ---------- the field layout ----------

let ``the checked-in field offsets are what the installed 2.2.2 headers give`` = testCase "the checked-in field offsets are what the installed 2.2.2 headers give" <| fun () ->
    if not (File.Exists "/usr/include/mujoco/mujoco.h") then
        // Without the headers there is nothing to regenerate from; the run-time version check still guards the offsets.
        Assert.Equal(222, MuJoCoRuntime.RequiredVersion)
    else
        let root = repoRoot.Value
        let exe = Path.Combine(Path.GetTempPath(), $"sac-mujoco-layout-{Guid.NewGuid():N}")
        try
            let source = Path.Combine(root, "native/mujoco/layout.c")
            let rc, _, err = run "gcc" $"-I/usr/include \"{source}\" -o \"{exe}\"" []
            Assert.True((rc = 0), $"gcc failed: {err}")
            let rc, generated, _ = run exe "" []
            Assert.Equal(0, rc)
            let layoutFile = Path.Combine(root, "Sac.Core/Environments/MuJoCo/MuJoCoLayout.cs")
            let checkedIn = File.ReadAllText layoutFile
            Assert.Equal(checkedIn.ReplaceLineEndings "\n", generated.ReplaceLineEndings "\n")
        finally
            if File.Exists exe then File.Delete exe

// ---------- the models ----------

/// Gymnasium's facts per task: id, nq, nv, nu, observation length, action bound, dt, total mass of the model.
let private facts =
    [ HalfCheetah.EnvironmentId, 9, 9, 6, 17, 1.0f, 0.05, 14.0
      Hopper.EnvironmentId, 6, 6, 3, 11, 1.0f, 0.008, 15.820013405927003
      Walker2d.EnvironmentId, 9, 9, 6, 17, 1.0f, 0.008, 23.677136632555076
      Ant.EnvironmentId, 15, 14, 8, 27, 1.0f, 0.05, 0.910880082707
      Humanoid.EnvironmentId, 24, 23, 17, 376, 0.4f, 0.015, 42.1160304921 ]

let private make (id: string) : MuJoCoEnvironment =
    match id with
    | HalfCheetah.EnvironmentId -> new HalfCheetah()
    | HalfCheetah.V5EnvironmentId -> new HalfCheetah(HalfCheetah.V5EnvironmentId)
    | Hopper.EnvironmentId -> new Hopper()
    | Walker2d.EnvironmentId -> new Walker2d()
    | Ant.EnvironmentId -> new Ant()
    | Ant.V5EnvironmentId -> new Ant(id)
    | Humanoid.EnvironmentId -> new Humanoid()
    | Humanoid.V5EnvironmentId -> new Humanoid(id)
    | _ -> failwith id

let ``every model loads under 2.2.2 with Gymnasium's sizes, bounds, dt and mass`` = mujocoCase "every model loads under 2.2.2 with Gymnasium's sizes, bounds, dt and mass" <| fun () ->
    Assert.Equal(222, MuJoCoRuntime.Version)
    for id, nq, nv, nu, obs, bound, dt, mass in facts do
        use env = make id
        let sim = env.Simulation
        Assert.True((nq, nv, nu) = (sim.Nq, sim.Nv, sim.Nu), $"{id}: nq/nv/nu {sim.Nq}/{sim.Nv}/{sim.Nu}")
        Assert.Equal(obs, env.ObservationSpace.Dimension)
        Assert.Equal(nu, env.ActionSpace.Dimension)
        Assert.All(env.ActionSpace.Low, fun l -> Assert.Equal(-bound, l))
        Assert.All(env.ActionSpace.High, fun h -> Assert.Equal(bound, h))
        Assert.Equal(dt, env.Dt, 12)
        let total = Seq.sum (sim.Model.BodyMass.ToArray())
        Assert.True(abs (total - mass) < 1e-9 * mass, $"{id}: total mass {total:R}, Gymnasium's model has {mass:R}")
        let limited = EnvironmentRegistry.Make id
        Assert.Equal(Nullable 1000, limited.MaxEpisodeSteps)

let ``the registry lists the MuJoCo tasks as available and makes them`` = mujocoCase "the registry lists the MuJoCo tasks as available and makes them" <| fun () ->
    for id, _, _, _, obs, _, _, _ in facts do
        let ok, reason = EnvironmentRegistry.IsAvailable id
        Assert.True(ok, reason)
        Assert.Equal(obs, (EnvironmentRegistry.Make id).ObservationSpace.Dimension)
    Assert.Equal(17, (EnvironmentRegistry.Make HalfCheetah.V5EnvironmentId).ObservationSpace.Dimension)

// ---------- rewards, observations, termination ----------

let private stepFrom (env: MuJoCoEnvironment) (qpos: float[]) (qvel: float[]) (action: float32[]) =
    let obs = Array.zeroCreate<float32> env.ObservationSpace.Dimension
    env.SetState(ReadOnlySpan qpos, ReadOnlySpan qvel, Span obs)
    let before = env.Simulation.Position.ToArray()
    let result = env.Step(ReadOnlySpan action, Span obs)
    before, result, obs

let private sumSq (a: float32[]) = a |> Array.sumBy (fun x -> float x * float x)

let private nearlyEqual (expected: float) (actual: float) (what: string) =
    Assert.True(abs (expected - actual) <= 1e-9 * max 1.0 (abs expected), $"{what}: expected {expected:R}, got {actual:R}")

let ``HalfCheetah: reward is the x velocity minus 0.1 sum a^2, and the observation is qpos[1:] then qvel`` = mujocoCase "HalfCheetah: reward is the x velocity minus 0.1 sum a^2, and the observation is qpos[1:] then qvel" <| fun () ->
    use env = new HalfCheetah()
    let qpos0 = env.Simulation.Model.Qpos0.ToArray()
    let action = [| 0.5f; -1.0f; 0.25f; 0.9f; -0.3f; 1.0f |]
    let before, result, obs = stepFrom env qpos0 (Array.init 9 (fun i -> 0.1 * float i)) action
    let after = env.Simulation.Position.ToArray()
    let vx = (after.[0] - before.[0]) / 0.05
    nearlyEqual (vx - 0.1 * sumSq action) env.LastReward.Total "reward"
    nearlyEqual vx env.LastReward.XVelocity "x velocity"
    Assert.Equal(float32 env.LastReward.Total, result.Reward)
    Assert.False(result.Terminated || result.Truncated)
    let qvel = env.Simulation.Velocity.ToArray()
    Assert.Equal<float32[]>(Array.append (after.[1..] |> Array.map float32) (qvel |> Array.map float32), obs)

let ``Hopper: healthy bonus, clipped velocities, and strict health bounds (z 0.69 terminates, 0.71 does not)`` = mujocoCase "Hopper: healthy bonus, clipped velocities, and strict health bounds (z 0.69 terminates, 0.71 does not)" <| fun () ->
    use env = new Hopper()
    let obs = Array.zeroCreate<float32> 11
    let state z angle = [| 0.0; z; angle; 0.0; 0.0; 0.0 |]
    let healthyAt (q: float[]) (v: float[]) =
        env.SetState(ReadOnlySpan q, ReadOnlySpan v, Span obs)
        env.IsHealthy()
    let still = Array.zeroCreate 6
    Assert.False(healthyAt (state 0.69 0.0) still)
    Assert.True(healthyAt (state 0.71 0.0) still)
    Assert.False(healthyAt (state 0.7 0.0) still) // strict: 0.7 < z
    Assert.False(healthyAt (state 1.25 0.2) still)
    Assert.True(healthyAt (state 1.25 0.19) still)
    // state_vector()[2:] = (qpos[2:], qvel): every velocity, the x velocity included, inside (-100, 100).
    Assert.False(healthyAt (state 1.25 0.0) [| 0.0; 0.0; 0.0; 100.0; 0.0; 0.0 |])
    Assert.False(healthyAt (state 1.25 0.0) [| -100.5; 0.0; 0.0; 0.0; 0.0; 0.0 |])
    Assert.True(healthyAt (state 1.25 0.0) [| 99.0; 0.0; 0.0; -99.0; 0.0; 0.0 |])
    let q = state 1.25 0.0
    q.[4] <- 100.0
    Assert.False(healthyAt q still)
    // A step that ends unhealthy (torso tilted past 0.2 rad) terminates, paying the healthy bonus all the same
    // (terminate_when_unhealthy). A z below 0.7 cannot be held through a step: the foot would be under the floor.
    let action = [| 0.3f; -0.2f; 0.1f |]
    let before, result, _ = stepFrom env (state 1.25 0.5) still action
    Assert.True(result.Terminated)
    let vx = (env.Simulation.Position.[0] - before.[0]) / 0.008
    nearlyEqual (vx + 1.0 - 1e-3 * sumSq action) env.LastReward.Total "reward"
    let _, result, _ = stepFrom env (state 1.25 0.0) still action
    Assert.False(result.Terminated)
    // Observation: qpos[1:] then qvel clipped to [-10, 10].
    let _, _, obs = stepFrom env (state 1.25 0.0) [| 30.0; -25.0; 0.0; 0.0; 0.0; 0.0 |] [| 0f; 0f; 0f |]
    let q = env.Simulation.Position.ToArray()
    let v = env.Simulation.Velocity.ToArray()
    let expected = Array.append (q.[1..] |> Array.map float32) (v |> Array.map (fun x -> float32 (Math.Clamp(x, -10.0, 10.0))))
    Assert.Equal<float32[]>(expected, obs)
    Assert.Equal(10f, obs.[5])

let ``Walker2d: strict z in (0.8, 2) and angle in (-1, 1)`` = mujocoCase "Walker2d: strict z in (0.8, 2) and angle in (-1, 1)" <| fun () ->
    use env = new Walker2d()
    let obs = Array.zeroCreate<float32> 17
    let healthy z angle =
        let q = [| 0.0; z; angle; 0.0; 0.0; 0.0; 0.0; 0.0; 0.0 |]
        env.SetState(ReadOnlySpan q, ReadOnlySpan(Array.zeroCreate<float> 9), Span obs)
        env.IsHealthy()
    Assert.False(healthy 0.8 0.0)
    Assert.True(healthy 0.81 0.0)
    Assert.True(healthy 1.99 0.0)
    Assert.False(healthy 2.0 0.0)
    Assert.False(healthy 1.25 1.0)
    Assert.False(healthy 1.25 -1.0)
    Assert.True(healthy 1.25 0.99)

/// Whether a free-joint model (Ant, Humanoid) is healthy at rest in its reference pose with the torso at height z.
let private healthyAtHeight (env: MuJoCoEnvironment) (obs: float32[]) (z: float) =
    let q = env.Simulation.Model.Qpos0.ToArray()
    q.[2] <- z
    env.SetState(ReadOnlySpan q, ReadOnlySpan(Array.zeroCreate<float> env.Simulation.Nv), Span obs)
    env.IsHealthy()

let ``Ant: torso velocity reward, inclusive z bounds, non-finite states unhealthy, contact forces computed`` = mujocoCase "Ant: torso velocity reward, inclusive z bounds, non-finite states unhealthy, contact forces computed" <| fun () ->
    use env = new Ant()
    let obs = Array.zeroCreate<float32> 27
    let q0 = env.Simulation.Model.Qpos0.ToArray()
    let healthyAtZ = healthyAtHeight env obs
    Assert.True(healthyAtZ 0.2)
    Assert.True(healthyAtZ 1.0)
    Assert.False(healthyAtZ 0.19)
    Assert.False(healthyAtZ 1.01)
    let torso = env.Simulation.Model.BodyId "torso"
    let action = Array.init 8 (fun i -> float32 (i - 4) / 5.0f)
    env.SetState(ReadOnlySpan q0, ReadOnlySpan(Array.zeroCreate<float> 14), Span obs)
    let xy () = let x = env.Simulation.BodyPosition in x.[3 * torso], x.[3 * torso + 1]
    // Let it land, so the legs touch the floor.
    for _ in 1 .. 20 do env.Step(ReadOnlySpan(Array.zeroCreate<float32> 8), Span obs) |> ignore
    // cfrc_ext is zero unless mj_rnePostConstraint runs after the step; standing on the floor it is not.
    Assert.True(env.Simulation.ExternalForce.ToArray() |> Array.exists (fun f -> abs f > 1e-6), "cfrc_ext is all zero")
    let bx, by = xy ()
    let result = env.Step(ReadOnlySpan action, Span obs)
    let ax, ay = xy ()
    nearlyEqual ((ax - bx) / 0.05 + 1.0 - 0.5 * sumSq action) env.LastReward.Total "reward"
    nearlyEqual ((ay - by) / 0.05) env.LastReward.YVelocity "y velocity"
    Assert.Equal(float32 env.LastReward.Total, result.Reward)
    let q = env.Simulation.Position.ToArray()
    Assert.Equal<float32[]>(Array.append (q.[2..] |> Array.map float32) (env.Simulation.Velocity.ToArray() |> Array.map float32), obs)

let ``Humanoid: mass-centre velocity reward, strict z in (1, 2), and the 376-long observation in Gymnasium's order`` = mujocoCase "Humanoid: mass-centre velocity reward, strict z in (1, 2), and the 376-long observation in Gymnasium's order" <| fun () ->
    use env = new Humanoid()
    let obs = Array.zeroCreate<float32> 376
    let q0 = env.Simulation.Model.Qpos0.ToArray()
    let healthyAtZ = healthyAtHeight env obs
    Assert.False(healthyAtZ 1.0)
    Assert.True(healthyAtZ 1.01)
    Assert.False(healthyAtZ 2.0)
    let mass = env.Simulation.Model.BodyMass.ToArray()
    let centre () =
        let x = env.Simulation.BodyCenterOfMass.ToArray()
        let m = Array.sum mass
        (Array.sumBy (fun b -> mass.[b] * x.[3 * b]) [| 0 .. mass.Length - 1 |]) / m
    let action = Array.init 17 (fun i -> 0.05f * float32 (i % 7) - 0.15f)
    env.SetState(ReadOnlySpan q0, ReadOnlySpan(Array.zeroCreate<float> 23), Span obs)
    for _ in 1 .. 20 do env.Step(ReadOnlySpan(Array.zeroCreate<float32> 17), Span obs) |> ignore
    Assert.True(env.Simulation.ExternalForce.ToArray() |> Array.exists (fun f -> abs f > 1e-6), "cfrc_ext is all zero on the floor")
    let before = centre ()
    env.Step(ReadOnlySpan action, Span obs) |> ignore
    let vx = (centre () - before) / 0.015
    nearlyEqual (1.25 * vx + 5.0 - 0.1 * sumSq action) env.LastReward.Total "reward"
    let s = env.Simulation
    let expected =
        Array.concat
            [ s.Position.ToArray().[2..]; s.Velocity.ToArray(); s.ComInertia.ToArray(); s.ComVelocity.ToArray()
              s.ActuatorForce.ToArray(); s.ExternalForce.ToArray() ]
        |> Array.map float32
    Assert.Equal(376, expected.Length)
    Assert.Equal<float32[]>(expected, obs)

// ---------- reset noise, determinism, allocation ----------

let ``reset noise: positions uniform within the scale, velocities uniform or normal per task, fresh each reset`` = mujocoCase "reset noise: positions uniform within the scale, velocities uniform or normal per task, fresh each reset" <| fun () ->
    let resets = 400
    // Ant and Humanoid stand on a free joint: qpos[3..6] is a quaternion, which mj_forward normalises in place after
    // the noise is added (as in Gymnasium's set_state); the other coordinates keep their noise as drawn.
    for id, scale, normalVelocity, quaternion in
        [ HalfCheetah.EnvironmentId, 0.1, true, false; Hopper.EnvironmentId, 5e-3, false, false
          Ant.EnvironmentId, 0.1, true, true; Humanoid.EnvironmentId, 1e-2, false, true ] do
        use env = make id
        let obs = Array.zeroCreate<float32> env.ObservationSpace.Dimension
        let q0 = env.Simulation.Model.Qpos0.ToArray()
        let dq = ResizeArray<float>()
        let dv = ResizeArray<float>()
        env.Reset(Nullable 11UL, Span obs)
        for _ in 1 .. resets do
            env.Reset(Nullable(), Span obs)
            let q = env.Simulation.Position.ToArray()
            for i in 0 .. q.Length - 1 do if not (quaternion && i >= 3 && i <= 6) then dq.Add(q.[i] - q0.[i])
            if quaternion then Assert.Equal(1.0, Seq.sumBy (fun i -> q.[i] * q.[i]) [ 3 .. 6 ], 12)
            dv.AddRange(env.Simulation.Velocity.ToArray())
        Assert.All(dq, fun d -> Assert.InRange(d, -scale, scale))
        let std (xs: ResizeArray<float>) = let m = Seq.average xs in sqrt (xs |> Seq.averageBy (fun x -> (x - m) ** 2.0))
        // Uniform(-s, s) has std s/sqrt 3; the normal noise has std s and exceeds s about a third of the time.
        Assert.InRange(std dq / (scale / sqrt 3.0), 0.95, 1.05)
        if normalVelocity then
            Assert.InRange(std dv / scale, 0.95, 1.05)
            let beyond = (dv |> Seq.filter (fun v -> abs v > scale) |> Seq.length |> float) / float dv.Count
            Assert.InRange(beyond, 0.29, 0.35)
        else
            Assert.All(dv, fun v -> Assert.InRange(v, -scale, scale))
            Assert.InRange(std dv / (scale / sqrt 3.0), 0.95, 1.05)

let private rollout (id: string) (seed: uint64) (steps: int) =
    use env = make id
    let obs = Array.zeroCreate<float32> env.ObservationSpace.Dimension
    let trace = ResizeArray<float32>()
    env.Reset(Nullable seed, Span obs)
    trace.AddRange obs
    let a = Array.zeroCreate<float32> env.ActionSpace.Dimension
    for t in 1 .. steps do
        for i in 0 .. a.Length - 1 do a.[i] <- env.ActionSpace.High.[i] * float32 (sin (0.3 * float (t + 5 * i)))
        let r = env.Step(ReadOnlySpan a, Span obs)
        trace.AddRange obs
        trace.Add r.Reward
        if r.Terminated then env.Reset(Nullable(), Span obs)
    trace.ToArray()

let ``the same seed gives the same trajectory bit for bit, another seed another one`` = mujocoCase "the same seed gives the same trajectory bit for bit, another seed another one" <| fun () ->
    let prop (seed: uint64) =
        [ HalfCheetah.EnvironmentId; Hopper.EnvironmentId; Ant.EnvironmentId ]
        |> List.forall (fun id -> rollout id seed 60 = rollout id seed 60 && rollout id seed 5 <> rollout id (seed + 1UL) 5)
    Check.One(Config.QuickThrowOnFailure.WithMaxTest(8), Prop.forAll (Arb.fromGen (Gen.choose (0, Int32.MaxValue) |> Gen.map uint64)) prop)

let ``stepping allocates nothing`` = mujocoCase "stepping allocates nothing" <| fun () ->
    for id, _, _, _, _, _, _, _ in facts do
        use env = make id
        let obs = Array.zeroCreate<float32> env.ObservationSpace.Dimension
        let a = Array.create env.ActionSpace.Dimension 0.05f
        env.Reset(Nullable 3UL, Span obs)
        for _ in 1 .. 50 do if (env.Step(ReadOnlySpan a, Span obs)).Terminated then env.Reset(Nullable(), Span obs)
        let before = GC.GetAllocatedBytesForCurrentThread()
        for _ in 1 .. 300 do if (env.Step(ReadOnlySpan a, Span obs)).Terminated then env.Reset(Nullable(), Span obs)
        Assert.Equal(0L, GC.GetAllocatedBytesForCurrentThread() - before)

// ---------- errors ----------

let ``a bad model file gives a typed one-line error naming the file`` = mujocoCase "a bad model file gives a typed one-line error naming the file" <| fun () ->
    let dir = Directory.CreateTempSubdirectory("sac-mjcf-").FullName
    try
        let bad = Path.Combine(dir, "bad.xml")
        File.WriteAllText(bad, "<mujoco><worldbody><body><geom type='sphere' size='-1'/></body></worldbody></mujoco>")
        let e = Assert.Throws<MuJoCoModelException>(fun () -> MuJoCoModel.LoadFile bad |> ignore)
        Assert.Contains("bad.xml", e.Message)
        Assert.Contains("size", e.Message)
        Assert.DoesNotContain("\n", e.Message)
        File.WriteAllText(bad, "<mujoco><worldbody>")
        Assert.Contains("XML", (Assert.Throws<MuJoCoModelException>(fun () -> MuJoCoModel.LoadFile bad |> ignore)).Message)
        let missing = Assert.Throws<MuJoCoModelException>(fun () -> MuJoCoModel.LoadFile(Path.Combine(dir, "none.xml")) |> ignore)
        Assert.Contains("no such file", missing.Message)
        use ok = MuJoCoModel.LoadXml("<mujoco><worldbody><body><joint type='free'/><geom type='sphere' size='0.1'/></body></worldbody></mujoco>", "ball")
        Assert.Equal((7, 6, 0), (ok.Nq, ok.Nv, ok.Nu))
        Assert.Throws<MuJoCoModelException>(fun () -> ok.BodyId "nope" |> ignore) |> ignore
    finally
        Directory.Delete(dir, true)

let ``a NaN action raises a typed error naming the environment and step, and the environment recovers on reset`` = mujocoCase "a NaN action raises a typed error naming the environment and step, and the environment recovers on reset" <| fun () ->
    use env = new Hopper()
    let obs = Array.zeroCreate<float32> 11
    env.Reset(Nullable 0UL, Span obs)
    for _ in 1 .. 4 do env.Step(ReadOnlySpan [| 0f; 0f; 0f |], Span obs) |> ignore
    let e = Assert.Throws<MuJoCoSimulationException>(fun () -> env.Step(ReadOnlySpan [| 0f; nanf; 0f |], Span obs) |> ignore)
    Assert.Equal("Hopper-v4", e.EnvironmentId)
    Assert.Equal(5L, e.Step)
    Assert.Contains("BADCTRL", e.Message)
    Assert.StartsWith("Hopper-v4, step 5: ", e.Message)
    Assert.Throws<InvalidOperationException>(fun () -> env.Step(ReadOnlySpan [| 0f; 0f; 0f |], Span obs) |> ignore) |> ignore
    env.Reset(Nullable 0UL, Span obs)
    Assert.False((env.Step(ReadOnlySpan [| 0f; 0f; 0f |], Span obs)).Terminated)

let ``an exploding state is caught as a MuJoCo warning, not silently reset`` = mujocoCase "an exploding state is caught as a MuJoCo warning, not silently reset" <| fun () ->
    use env = new HalfCheetah()
    let obs = Array.zeroCreate<float32> 17
    let q = env.Simulation.Model.Qpos0.ToArray()
    let v = Array.create 9 1e300
    env.SetState(ReadOnlySpan q, ReadOnlySpan(Array.zeroCreate<float> 9), Span obs)
    v.CopyTo(env.Simulation.Velocity)
    let e = Assert.Throws<MuJoCoSimulationException>(fun () -> env.Step(ReadOnlySpan(Array.zeroCreate<float32> 6), Span obs) |> ignore)
    Assert.Matches("BADQ(VEL|ACC|POS)", e.Message)

// ---------- the command line ----------

let ``without libmujoco, sac envs lists the tasks as unavailable and sac train exits 2 with one line`` = testCase "without libmujoco, sac envs lists the tasks as unavailable and sac train exits 2 with one line" <| fun () ->
    let sac = Path.Combine(AppContext.BaseDirectory, "sac.dll")
    let missing = [ MuJoCoRuntime.LibraryVariable, "/nonexistent/libmujoco.so.2.2.2" ]
    let rc, out, _ = run "dotnet" $"\"{sac}\" envs" missing
    Assert.Equal(0, rc)
    let line = out.Split('\n') |> Array.find (fun l -> l.StartsWith "Hopper-v4")
    Assert.Contains("unavailable", line)
    Assert.Contains(MuJoCoRuntime.InstallCommand, line)
    Assert.Contains("Pendulum-v1                observation", out)
    let dir = Path.Combine(Path.GetTempPath(), $"sac-nomujoco-{Guid.NewGuid():N}")
    let rc, _, err = run "dotnet" $"\"{sac}\" train --env HalfCheetah-v4 --steps 100 --out \"{dir}\"" missing
    Assert.Equal(2, rc)
    let lines = err.Trim().Split('\n')
    Assert.Equal(1, lines.Length)
    Assert.Contains("HalfCheetah-v4 needs MuJoCo 2.2.2", lines.[0])
    Assert.EndsWith(MuJoCoRuntime.InstallCommand, lines.[0])
    Assert.False(Directory.Exists dir)

let ``a 1,000-step SAC smoke train on HalfCheetah-v4 writes its run and evaluates`` = mujocoCase "a 1,000-step SAC smoke train on HalfCheetah-v4 writes its run and evaluates" <| fun () ->
    let dir = Path.Combine(Path.GetTempPath(), $"sac-hc-{Guid.NewGuid():N}")
    let config = Path.Combine(Path.GetTempPath(), $"sac-hc-{Guid.NewGuid():N}.json")
    try
        File.WriteAllText(config, """{"learningStarts": 200, "batchSize": 64, "hiddenSizes": [64, 64], "evalInterval": 1000, "evalEpisodes": 1}""")
        let req = { Sac.Cli.Options.defaultRequest HalfCheetah.EnvironmentId with Steps = Some 1000L; Out = Some dir; ConfigFile = Some config }
        Assert.Equal(0, Sac.Cli.Run.train req)
        for f in [ "config.json"; "metrics.csv"; "final.ckpt"; "curve.svg" ] do Assert.True(File.Exists(Path.Combine(dir, f)), f)
        let rows = File.ReadAllLines(Path.Combine(dir, "metrics.csv"))
        Assert.Contains(rows, fun r -> r.StartsWith "1000,")
    finally
        if Directory.Exists dir then Directory.Delete(dir, true)
        if File.Exists config then File.Delete config

// ---------- the v5 tasks: Ant-v5, Humanoid-v5 ----------

/// Gymnasium's v5 facts (ant_v5.py, humanoid_v5.py): id, its v4 counterpart, nq, nv, nu, observation length, action
/// bound, dt.
let private v5Facts =
    [ Ant.V5EnvironmentId, Ant.EnvironmentId, 15, 14, 8, 105, 1.0f, 0.05
      Humanoid.V5EnvironmentId, Humanoid.EnvironmentId, 24, 23, 17, 348, 0.4f, 0.015 ]

let ``Ant-v5 and Humanoid-v5 load with Gymnasium's sizes, bounds, dt and limit, registered and preset as their v4 tasks`` = mujocoCase "Ant-v5 and Humanoid-v5 load with Gymnasium's sizes, bounds, dt and limit, registered and preset as their v4 tasks" <| fun () ->
    for id, v4, nq, nv, nu, obs, bound, dt in v5Facts do
        use env = make id
        let sim = env.Simulation
        Assert.Equal(id, env.Id)
        Assert.True((nq, nv, nu) = (sim.Nq, sim.Nv, sim.Nu), $"{id}: nq/nv/nu {sim.Nq}/{sim.Nv}/{sim.Nu}")
        Assert.Equal(14, sim.NBody) // the world body and 13 more; v5 observes the 13
        Assert.Equal(obs, env.ObservationSpace.Dimension)
        Assert.Equal(nu, env.ActionSpace.Dimension)
        Assert.All(env.ActionSpace.Low, fun l -> Assert.Equal(-bound, l))
        Assert.All(env.ActionSpace.High, fun h -> Assert.Equal(bound, h))
        Assert.Equal(dt, env.Dt, 12)
        Assert.Equal(5, env.FrameSkip)
        use old = make v4
        Assert.Equal(old.ResetNoiseScale, env.ResetNoiseScale)
        Assert.Equal(old.Simulation.Model.Timestep, sim.Model.Timestep)
        Assert.True(EnvironmentRegistry.IsBuiltIn id)
        Assert.True(EnvironmentRegistry.RequiresMuJoCo id)
        let ok, reason = EnvironmentRegistry.IsAvailable id
        Assert.True(ok, reason)
        let made = EnvironmentRegistry.Make id
        Assert.Equal(id, made.Id)
        Assert.Equal(obs, made.ObservationSpace.Dimension)
        Assert.Equal(Nullable 1000, made.MaxEpisodeSteps)
        Assert.Equal(Sac.Fs.Presets.forEnvironment v4, Sac.Fs.Presets.forEnvironment id)
    // The v4 tasks keep their own observations; other ids are refused.
    use ant4 = new Ant()
    use humanoid4 = new Humanoid(Humanoid.EnvironmentId)
    Assert.Equal(27, ant4.ObservationSpace.Dimension)
    Assert.Equal(376, humanoid4.ObservationSpace.Dimension)
    Assert.Throws<ArgumentException>(fun () -> new Ant("Ant-v3") |> ignore) |> ignore
    Assert.Throws<ArgumentException>(fun () -> new Humanoid("Humanoid-v2") |> ignore) |> ignore

/// Steps `env` from its reference pose at rest `landing` times with zero actions (so the feet touch the floor), then
/// once with `action`; the forward position before and after that step, the result and the observation.
let private landThenStep (env: MuJoCoEnvironment) (landing: int) (forward: unit -> float) (action: float32[]) =
    let obs = Array.zeroCreate<float32> env.ObservationSpace.Dimension
    env.SetState(ReadOnlySpan(env.Simulation.Model.Qpos0.ToArray()), ReadOnlySpan(Array.zeroCreate<float> env.Simulation.Nv), Span obs)
    for _ in 1 .. landing do env.Step(ReadOnlySpan(Array.zeroCreate<float32> env.ActionSpace.Dimension), Span obs) |> ignore
    let before = forward ()
    let result = env.Step(ReadOnlySpan action, Span obs)
    before, forward (), result, obs

let private clipped (bound: float) (xs: float[]) = xs |> Array.map (fun x -> Math.Clamp(x, -bound, bound))

let ``Ant-v5: reward is vx + 1 - 0.5 sum a^2 - 5e-4 sum clip(cfrc_ext, -1, 1)^2, observation ends with the clipped contact forces`` = mujocoCase "Ant-v5: reward is vx + 1 - 0.5 sum a^2 - 5e-4 sum clip(cfrc_ext, -1, 1)^2, observation ends with the clipped contact forces" <| fun () ->
    use env = new Ant(Ant.V5EnvironmentId)
    let torso = env.Simulation.Model.BodyId "torso"
    // Small torques, so the feet stay on the floor through the step (larger ones lift them all for a step).
    let action = Array.init 8 (fun i -> float32 (i - 4) / 50.0f)
    let x () = env.Simulation.BodyPosition.[3 * torso]
    let before, after, result, obs = landThenStep env 20 x action
    let f = env.Simulation.ExternalForce.ToArray()
    Assert.Equal(84, f.Length)
    Assert.All(f.[0..5], fun w -> Assert.Equal(0.0, w)) // the world body's row, dropped from the observation
    // Standing on the floor, some contact force components exceed the clipping bound and some do not.
    Assert.True(f |> Array.exists (fun v -> abs v > 1.0), "no contact force beyond the clip range")
    Assert.True(f |> Array.exists (fun v -> v <> 0.0 && abs v < 1.0), "no contact force inside the clip range")
    let vx = (after - before) / 0.05
    let r = env.LastReward
    nearlyEqual vx r.Forward "forward"
    nearlyEqual vx r.XVelocity "x velocity"
    Assert.Equal(1.0, r.Healthy)
    nearlyEqual (0.5 * sumSq action) r.Control "control"
    let contact = 5e-4 * (clipped 1.0 f |> Array.sumBy (fun v -> v * v))
    nearlyEqual contact r.Contact "contact"
    Assert.True(r.Contact < 5e-4 * (f |> Array.sumBy (fun v -> v * v)), "the contact cost is of the clipped forces")
    Assert.True(contact > 0.0)
    nearlyEqual (vx + 1.0 - 0.5 * sumSq action - contact) r.Total "reward"
    Assert.Equal(float32 r.Total, result.Reward)
    Assert.False(result.Terminated)
    let s = env.Simulation
    let expected = Array.concat [ s.Position.ToArray().[2..]; s.Velocity.ToArray(); clipped 1.0 f.[6..] ] |> Array.map float32
    Assert.Equal(105, expected.Length)
    Assert.Equal<float32[]>(expected, obs)
    Assert.Contains(obs.[27..], fun o -> abs o = 1.0f)
    // A constructed state pressed into the floor: the legs' contact forces saturate the clip, the cost stays bounded.
    let q = s.Model.Qpos0.ToArray()
    q.[2] <- 0.3
    let _, result, _ = stepFrom env q (Array.zeroCreate 14) (Array.zeroCreate 8)
    let f = env.Simulation.ExternalForce.ToArray()
    Assert.True(f |> Array.exists (fun v -> abs v > 10.0), "expected large contact forces")
    nearlyEqual (5e-4 * (clipped 1.0 f |> Array.sumBy (fun v -> v * v))) env.LastReward.Contact "contact, pressed"
    Assert.InRange(env.LastReward.Contact, 1e-3, 5e-4 * 78.0)
    Assert.False(result.Terminated)

let ``Humanoid-v5: reward is 1.25 vx + 5 - 0.1 sum ctrl^2 - min(5e-7 sum cfrc_ext^2, 10), observation without the world body`` = mujocoCase "Humanoid-v5: reward is 1.25 vx + 5 - 0.1 sum ctrl^2 - min(5e-7 sum cfrc_ext^2, 10), observation without the world body" <| fun () ->
    use env = new Humanoid(Humanoid.V5EnvironmentId)
    let mass = env.Simulation.Model.BodyMass.ToArray()
    let centre () =
        let x = env.Simulation.BodyCenterOfMass.ToArray()
        (Array.sumBy (fun b -> mass.[b] * x.[3 * b]) [| 0 .. mass.Length - 1 |]) / Array.sum mass
    let action = Array.init 17 (fun i -> 0.05f * float32 (i % 7) - 0.15f)
    let before, after, result, obs = landThenStep env 20 centre action
    let f = env.Simulation.ExternalForce.ToArray()
    Assert.All(f.[0..5], fun w -> Assert.Equal(0.0, w))
    let raw = 5e-7 * (f |> Array.sumBy (fun v -> v * v))
    Assert.True(raw > 0.0 && raw < 10.0, $"standing contact cost {raw} should be positive and under the cap")
    let vx = (after - before) / 0.015
    let r = env.LastReward
    nearlyEqual (1.25 * vx) r.Forward "forward"
    nearlyEqual vx r.XVelocity "x velocity"
    Assert.Equal(5.0, r.Healthy)
    nearlyEqual (0.1 * sumSq action) r.Control "control"
    nearlyEqual raw r.Contact "contact"
    nearlyEqual (1.25 * vx + 5.0 - 0.1 * sumSq action - raw) r.Total "reward"
    Assert.Equal(float32 r.Total, result.Reward)
    Assert.False(result.Terminated)
    let s = env.Simulation
    let expected =
        Array.concat
            [ s.Position.ToArray().[2..]; s.Velocity.ToArray(); s.ComInertia.ToArray().[10..]; s.ComVelocity.ToArray().[6..]
              s.ActuatorForce.ToArray().[6..]; f.[6..] ]
        |> Array.map float32
    Assert.Equal(348, expected.Length)
    Assert.Equal<float32[]>(expected, obs)
    // A constructed state falling fast with the feet in the floor: the contact cost is capped at 10.
    let q = s.Model.Qpos0.ToArray()
    q.[2] <- 1.02
    let v = Array.zeroCreate<float> 23
    v.[2] <- -5.0
    let _, result, _ = stepFrom env q v (Array.zeroCreate 17)
    let f = env.Simulation.ExternalForce.ToArray()
    Assert.True(5e-7 * (f |> Array.sumBy (fun x -> x * x)) > 10.0, "expected the uncapped contact cost above 10")
    Assert.Equal(10.0, env.LastReward.Contact)
    Assert.False(result.Terminated)
    Assert.Equal(5.0, env.LastReward.Healthy)

let ``the v5 observations are the v4 ones without the world body's rows (and Humanoid's free-joint actuator forces)`` = mujocoCase "the v5 observations are the v4 ones without the world body's rows (and Humanoid's free-joint actuator forces)" <| fun () ->
    for v5, v4, steps, drop in
        [ Ant.V5EnvironmentId, Ant.EnvironmentId, 12, []
          // v4's Humanoid observation: qpos[2:] 22, qvel 23, cinert 140, cvel 84, qfrc_actuator 23, cfrc_ext 84.
          Humanoid.V5EnvironmentId, Humanoid.EnvironmentId, 12, [ 45 .. 54 ] @ [ 185 .. 190 ] @ [ 269 .. 274 ] @ [ 292 .. 297 ] ] do
        use a = make v5
        use b = make v4
        let oa = Array.zeroCreate<float32> a.ObservationSpace.Dimension
        let ob = Array.zeroCreate<float32> b.ObservationSpace.Dimension
        a.Reset(Nullable 5UL, Span oa)
        b.Reset(Nullable 5UL, Span ob)
        // The same reset noise and dynamics as the v4 task.
        Assert.Equal<float[]>(b.Simulation.Position.ToArray(), a.Simulation.Position.ToArray())
        Assert.Equal<float[]>(b.Simulation.Velocity.ToArray(), a.Simulation.Velocity.ToArray())
        let act = Array.init a.ActionSpace.Dimension (fun i -> 0.5f * a.ActionSpace.High.[i] * float32 (sin (float i)))
        for _ in 1 .. steps do
            a.Step(ReadOnlySpan act, Span oa) |> ignore
            b.Step(ReadOnlySpan act, Span ob) |> ignore
        let kept = ob |> Array.indexed |> Array.filter (fun (i, _) -> not (List.contains i drop)) |> Array.map snd
        for i in drop do Assert.Equal(0.0f, ob.[i])
        if v5 = Ant.V5EnvironmentId then
            Assert.Equal<float32[]>(kept, oa.[.. 26])
            Assert.Equal<float32[]>(clipped 1.0 (a.Simulation.ExternalForce.ToArray().[6..]) |> Array.map float32, oa.[27..])
        else
            Assert.Equal<float32[]>(kept, oa)

let ``Ant-v5 and Humanoid-v5 terminate outside their healthy ranges, without the healthy reward on that step`` = mujocoCase "Ant-v5 and Humanoid-v5 terminate outside their healthy ranges, without the healthy reward on that step" <| fun () ->
    // Ant-v5: healthy_z_range (0.2, 1.0), closed.
    use ant = new Ant(Ant.V5EnvironmentId)
    let obs = Array.zeroCreate<float32> 105
    let healthyAtZ = healthyAtHeight ant obs
    Assert.True(healthyAtZ 0.2)
    Assert.True(healthyAtZ 1.0)
    Assert.False(healthyAtZ 0.19)
    Assert.False(healthyAtZ 1.01)
    // Humanoid-v5: healthy_z_range (1.0, 2.0), open.
    use humanoid = new Humanoid(Humanoid.V5EnvironmentId)
    let obs = Array.zeroCreate<float32> 348
    let healthyAtZ = healthyAtHeight humanoid obs
    Assert.False(healthyAtZ 1.0)
    Assert.True(healthyAtZ 1.01)
    Assert.True(healthyAtZ 1.99)
    Assert.False(healthyAtZ 2.0)
    // A step that leaves the range terminates and pays no healthy reward in v5 (v4 pays it on that step too).
    for v5, v4, z, vz, bonus in [ Ant.V5EnvironmentId, Ant.EnvironmentId, 0.99, 2.0, 1.0; Humanoid.V5EnvironmentId, Humanoid.EnvironmentId, 1.95, 5.0, 5.0 ] do
        for id, healthy in [ v5, 0.0; v4, bonus ] do
            use env = make id
            let q = env.Simulation.Model.Qpos0.ToArray()
            q.[2] <- z
            let v = Array.zeroCreate<float> env.Simulation.Nv
            v.[2] <- vz
            let action = Array.create env.ActionSpace.Dimension (0.5f * env.ActionSpace.High.[0])
            let _, result, _ = stepFrom env q v action
            let z' = env.Simulation.Position.[2]
            Assert.True(result.Terminated, $"{id}: z {z'} should be unhealthy")
            let r = env.LastReward
            Assert.Equal(healthy, r.Healthy)
            nearlyEqual (r.Forward + healthy - r.Control - r.Contact) r.Total $"{id} reward"
            // From the reference pose the step stays in range: healthy and paid.
            let _, result, _ = stepFrom env (env.Simulation.Model.Qpos0.ToArray()) (Array.zeroCreate env.Simulation.Nv) action
            Assert.False(result.Terminated)
            Assert.Equal(bonus, env.LastReward.Healthy)

let ``Ant-v5 and Humanoid-v5: the same seed gives the same trajectory bit for bit, another seed another one`` = mujocoCase "Ant-v5 and Humanoid-v5: the same seed gives the same trajectory bit for bit, another seed another one" <| fun () ->
    let prop (seed: uint64) =
        [ Ant.V5EnvironmentId; Humanoid.V5EnvironmentId ]
        |> List.forall (fun id -> rollout id seed 60 = rollout id seed 60 && rollout id seed 5 <> rollout id (seed + 1UL) 5)
    Check.One(Config.QuickThrowOnFailure.WithMaxTest(6), Prop.forAll (Arb.fromGen (Gen.choose (0, Int32.MaxValue) |> Gen.map uint64)) prop)

let ``Ant-v5 and Humanoid-v5 step without allocating`` = mujocoCase "Ant-v5 and Humanoid-v5 step without allocating" <| fun () ->
    for id, _, _, _, _, _, _, _ in v5Facts do
        use env = make id
        let obs = Array.zeroCreate<float32> env.ObservationSpace.Dimension
        let a = Array.create env.ActionSpace.Dimension 0.05f
        env.Reset(Nullable 3UL, Span obs)
        for _ in 1 .. 50 do if (env.Step(ReadOnlySpan a, Span obs)).Terminated then env.Reset(Nullable(), Span obs)
        let before = GC.GetAllocatedBytesForCurrentThread()
        for _ in 1 .. 300 do if (env.Step(ReadOnlySpan a, Span obs)).Terminated then env.Reset(Nullable(), Span obs)
        Assert.Equal(0L, GC.GetAllocatedBytesForCurrentThread() - before)

let tests = testList "MuJoCo" [
    ``the checked-in field offsets are what the installed 2.2.2 headers give``
    ``every model loads under 2.2.2 with Gymnasium's sizes, bounds, dt and mass``
    ``the registry lists the MuJoCo tasks as available and makes them``
    ``HalfCheetah: reward is the x velocity minus 0.1 sum a^2, and the observation is qpos[1:] then qvel``
    ``Hopper: healthy bonus, clipped velocities, and strict health bounds (z 0.69 terminates, 0.71 does not)``
    ``Walker2d: strict z in (0.8, 2) and angle in (-1, 1)``
    ``Ant: torso velocity reward, inclusive z bounds, non-finite states unhealthy, contact forces computed``
    ``Humanoid: mass-centre velocity reward, strict z in (1, 2), and the 376-long observation in Gymnasium's order``
    ``reset noise: positions uniform within the scale, velocities uniform or normal per task, fresh each reset``
    ``the same seed gives the same trajectory bit for bit, another seed another one``
    ``stepping allocates nothing``
    ``a bad model file gives a typed one-line error naming the file``
    ``a NaN action raises a typed error naming the environment and step, and the environment recovers on reset``
    ``an exploding state is caught as a MuJoCo warning, not silently reset``
    ``without libmujoco, sac envs lists the tasks as unavailable and sac train exits 2 with one line``
    ``a 1,000-step SAC smoke train on HalfCheetah-v4 writes its run and evaluates``
    ``Ant-v5 and Humanoid-v5 load with Gymnasium's sizes, bounds, dt and limit, registered and preset as their v4 tasks``
    ``Ant-v5: reward is vx + 1 - 0.5 sum a^2 - 5e-4 sum clip(cfrc_ext, -1, 1)^2, observation ends with the clipped contact forces``
    ``Humanoid-v5: reward is 1.25 vx + 5 - 0.1 sum ctrl^2 - min(5e-7 sum cfrc_ext^2, 10), observation without the world body``
    ``the v5 observations are the v4 ones without the world body's rows (and Humanoid's free-joint actuator forces)``
    ``Ant-v5 and Humanoid-v5 terminate outside their healthy ranges, without the healthy reward on that step``
    ``Ant-v5 and Humanoid-v5: the same seed gives the same trajectory bit for bit, another seed another one``
    ``Ant-v5 and Humanoid-v5 step without allocating``
]
