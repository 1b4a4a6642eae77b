/// ReplayBuffer, Transition and Batch: ring semantics, terminated vs truncated, sampling, save and restore, validation.
module ReplayTests

open System
open System.Reflection
open Xunit
open Expecto
open FsCheck
open FsCheck.FSharp
open Sac.Core.Data
open Sac.Core.Random
open ValidationKit

// ---------- helpers ----------

/// A transition whose every field encodes `id`, so a sampled row can be checked to be one whole stored transition.
let private encoded (obsSize: int) (actSize: int) (id: int) =
    Transition(
        Array.init obsSize (fun k -> float32 (id * 100 + k)),
        Array.init actSize (fun k -> -float32 id - 0.25f * float32 k),
        float32 id,
        Array.init obsSize (fun k -> float32 (id * 100 + k) + 0.5f),
        id % 2 = 0,
        id % 3 = 0)

/// Checks that row `j` of `batch` is exactly the transition `expected`.
let private rowIs (batch: Batch) (j: int) (expected: Transition) =
    Assert.Equal<float32>(expected.Observation, batch.ObservationRow(j).ToArray())
    Assert.Equal<float32>(expected.Action, batch.ActionRow(j).ToArray())
    Assert.Equal(expected.Reward, batch.Rewards.[j])
    Assert.Equal<float32>(expected.NextObservation, batch.NextObservationRow(j).ToArray())
    Assert.Equal((if expected.Terminated then 1.0f else 0.0f), batch.Terminated.[j])
    Assert.Equal((if expected.Truncated then 1.0f else 0.0f), batch.Truncated.[j])

/// The stored transitions oldest first, read through the public layout contract: slots [0, Count), the oldest at
/// Position once the ring is full, otherwise at slot 0.
let private chronological (buf: ReplayBuffer) =
    let start = if buf.TotalAdded >= int64 buf.Capacity then buf.Position else 0
    [ for k in 0 .. buf.Count - 1 -> buf.GetTransition((start + k) % buf.Capacity) ]

let private batchArrays (b: Batch) =
    [ b.Observations; b.Actions; b.Rewards; b.NextObservations; b.Terminated; b.Truncated ] |> List.map Array.copy

let private config = Config.QuickThrowOnFailure.WithMaxTest(100)

let private genSmallFloat = Gen.choose (-4000, 4000) |> Gen.map (fun k -> float32 k / 8.0f)

let private genTransition (obsSize: int) (actSize: int) =
    gen {
        let! obs = Gen.arrayOfLength obsSize genSmallFloat
        let! act = Gen.arrayOfLength actSize genSmallFloat
        let! r = genSmallFloat
        let! next = Gen.arrayOfLength obsSize genSmallFloat
        let! term = Gen.elements [ true; false ]
        let! trunc = Gen.elements [ true; false ]
        return Transition(obs, act, r, next, term, trunc)
    }

// ---------- ring semantics ----------

let ``ring buffer matches a reference model of the last capacity transitions under random add sequences`` =
    let genCase =
        gen {
            let! capacity = Gen.choose (1, 10)
            let! obsSize = Gen.choose (1, 4)
            let! actSize = Gen.choose (1, 3)
            let! n = Gen.choose (0, 35)
            let! ts = Gen.listOfLength n (genTransition obsSize actSize)
            return capacity, obsSize, actSize, ts
        }
    let prop (capacity, obsSize, actSize, ts: Transition list) =
        let buf = ReplayBuffer(capacity, obsSize, actSize)
        let mutable model = []
        for i, t in List.indexed ts do
            buf.Add t
            // Reference model: a plain list keeping only the newest `capacity` transitions.
            model <- (model @ [ t ]) |> List.skip (max 0 (List.length model + 1 - capacity))
            Assert.Equal(min (i + 1) capacity, buf.Count)
            Assert.Equal(int64 (i + 1), buf.TotalAdded)
            Assert.Equal((i + 1) % capacity, buf.Position)
            Assert.Equal<Transition list>(model, chronological buf)
        Assert.Equal(capacity, buf.Capacity)
        Assert.Equal(buf.Count * obsSize, buf.Observations.Length)
        Assert.Equal(buf.Count * actSize, buf.Actions.Length)
        Assert.Equal(buf.Count, buf.Rewards.Length)
    testPropertyWithConfig (Properties.ofFsCheck config) "ring buffer matches a reference model of the last capacity transitions under random add sequences" (Prop.forAll (Arb.fromGen genCase) prop)

let ``a full ring overwrites exactly the oldest transition`` = testCase "a full ring overwrites exactly the oldest transition" <| fun () ->
    let buf = ReplayBuffer(5, 2, 1)
    for id in 0 .. 11 do buf.Add(encoded 2 1 id)
    // Ids 7..11 survive; id 10 went to slot 10 % 5 = 0, and the oldest (id 7) sits at Position = 12 % 5 = 2.
    Assert.Equal(2, buf.Position)
    Assert.Equal<float32>([| 10.0f; 11.0f; 7.0f; 8.0f; 9.0f |], buf.Rewards.ToArray())
    buf.Add(encoded 2 1 12)
    Assert.Equal<float32>([| 10.0f; 11.0f; 12.0f; 8.0f; 9.0f |], buf.Rewards.ToArray())
    Assert.Equal(encoded 2 1 12, buf.GetTransition 2)

// ---------- terminated vs truncated ----------

let ``terminated and truncated are stored and sampled separately, in all four combinations`` =
    let all4 = [ false, false; false, true; true, false; true, true ]
    let genCase =
        gen {
            let! extra = Gen.listOf (Gen.elements all4)
            let! order = Gen.shuffle (List.toArray (all4 @ extra))
            let! capacity = Gen.choose (1, 12)
            let! seed = Gen.choose (0, Int32.MaxValue)
            return capacity, List.ofArray order, seed
        }
    let prop (capacity, flags: (bool * bool) list, seed) =
        let buf = ReplayBuffer(capacity, 1, 1)
        flags |> List.iteri (fun id (term, trunc) ->
            // The id rides in the reward so each sampled row can be traced back to the flags it was added with.
            buf.Add(ReadOnlySpan [| float32 id |], ReadOnlySpan [| 0.0f |], float32 id, ReadOnlySpan [| 1.0f |], term, trunc))
        let flagsOf id = flags.[id]
        for t in chronological buf do
            Assert.Equal(flagsOf (int t.Reward), (t.Terminated, t.Truncated))
        let batch = Batch(64, 1, 1)
        buf.Sample(PhiloxKey.FromSeed(uint64 seed), 0UL, batch)
        for j in 0 .. batch.Size - 1 do
            let term, trunc = flagsOf (int batch.Rewards.[j])
            Assert.Equal((if term then 1.0f else 0.0f), batch.Terminated.[j])
            Assert.Equal((if trunc then 1.0f else 0.0f), batch.Truncated.[j])
    testPropertyWithConfig (Properties.ofFsCheck config) "terminated and truncated are stored and sampled separately, in all four combinations" (Prop.forAll (Arb.fromGen genCase) prop)

// ---------- sampling ----------

/// A buffer's capacity, the transitions added, its sizes, a batch size, a key seed and a draw, each at most its bound.
let private genSampling (capacity: int, added: int, obsSize: int, actSize: int, batchSize: int) =
    gen {
        let! c = Gen.choose (1, capacity)
        let! n = Gen.choose (1, added)
        let! o = Gen.choose (1, obsSize)
        let! a = Gen.choose (1, actSize)
        let! b = Gen.choose (1, batchSize)
        let! seed = Gen.choose (0, Int32.MaxValue)
        let! draw = Gen.choose (0, 100_000)
        return c, n, o, a, b, seed, draw
    }

let ``sampled rows are whole stored transitions, drawn only among the stored ones, and match SampleSlots`` =
    let genCase = genSampling (60, 150, 5, 3, 40)
    let prop (capacity, added, obsSize, actSize, batchSize, seed, draw) =
        let buf = ReplayBuffer(capacity, obsSize, actSize)
        for id in 0 .. added - 1 do buf.Add(encoded obsSize actSize id)
        let batch = Batch(batchSize, obsSize, actSize)
        let key = PhiloxKey.FromSeed(uint64 seed)
        buf.Sample(key, uint64 draw, batch)
        let slots = Array.zeroCreate<int> batchSize
        buf.SampleSlots(key, uint64 draw, Span slots)
        let oldest = max 0 (added - capacity)
        for j in 0 .. batchSize - 1 do
            let id = int batch.Rewards.[j]
            Assert.InRange(id, oldest, added - 1)
            Assert.InRange(slots.[j], 0, buf.Count - 1)
            // Transition number t lives in slot t % Capacity, so the slot and the encoded id must agree.
            Assert.Equal(id % capacity, slots.[j])
            rowIs batch j (encoded obsSize actSize id)
    testPropertyWithConfig (Properties.ofFsCheck config) "sampled rows are whole stored transitions, drawn only among the stored ones, and match SampleSlots" (Prop.forAll (Arb.fromGen genCase) prop)

let ``a team's parts sample the batch one thread samples, row for row, and refuse what it refuses`` =
    // Batches shorter than the team too: a part may have no rows.
    let genCase = genSampling (300, 700, 17, 6, 300)
    testCase "a team's parts sample the batch one thread samples, row for row, and refuse what it refuses" <| fun () ->
        use two = new Sac.Core.Compute.WorkerTeam(2)
        use three = new Sac.Core.Compute.WorkerTeam(3)
        use one = new Sac.Core.Compute.WorkerTeam(1)
        let prop (capacity, added, obsSize, actSize, batchSize, seed, draw) =
            let buf = ReplayBuffer(capacity, obsSize, actSize)
            for id in 0 .. added - 1 do buf.Add(encoded obsSize actSize id)
            let key = PhiloxKey.FromSeed(uint64 seed)
            let alone = Batch(batchSize, obsSize, actSize)
            buf.Sample(key, uint64 draw, alone)
            for team in [ one; two; three ] do
                let shared = Batch(batchSize, obsSize, actSize)
                buf.Sample(key, uint64 draw, shared, team)
                Assert.Equal<float32[] list>(batchArrays alone, batchArrays shared)
        Check.One(config, Prop.forAll (Arb.fromGen genCase) prop)
        let buf = ReplayBuffer(8, 3, 2)
        let key = PhiloxKey.FromSeed 1UL
        Assert.Throws<InvalidOperationException>(fun () -> buf.Sample(key, 0UL, Batch(4, 3, 2), two)) |> ignore
        buf.Add(encoded 3 2 0)
        throwsNaming "into.ObservationSize" (fun () -> buf.Sample(key, 0UL, Batch(4, 5, 2), two)) |> ignore
        throwsNaming "into.ActionSize" (fun () -> buf.Sample(key, 0UL, Batch(4, 3, 1), two)) |> ignore
        Assert.Throws<ArgumentOutOfRangeException>(fun () -> buf.Sample(key, UInt64.MaxValue, Batch(4, 3, 2), two)) |> ignore
        throwsNaming "team" (fun () -> buf.Sample(key, 0UL, Batch(4, 3, 2), Unchecked.defaultof<Sac.Core.Compute.WorkerTeam>)) |> ignore
        // The team is whole after the refusals.
        let b = Batch(4, 3, 2)
        buf.Sample(key, 0UL, b, two)
        rowIs b 3 (encoded 3 2 0)

let ``the same key and draw give the same batch; other draws and other keys give different batches`` = testCase "the same key and draw give the same batch; other draws and other keys give different batches" <| fun () ->
    let buf = ReplayBuffer(2000, 3, 2)
    for id in 0 .. 1499 do buf.Add(encoded 3 2 id)
    let key = PhiloxKey.FromSeed 42UL
    let sampleOf (k: PhiloxKey) (draw: uint64) =
        let b = Batch(32, 3, 2)
        buf.Sample(k, draw, b)
        batchArrays b
    Assert.Equal<float32[] list>(sampleOf key 7UL, sampleOf key 7UL)
    // Sampling other draws in between changes nothing: a batch depends on its own draw number only.
    let first = sampleOf key 3UL
    for d in 0UL .. 20UL do sampleOf key d |> ignore
    Assert.Equal<float32[] list>(first, sampleOf key 3UL)
    let rewardsByDraw = [ for d in 0UL .. 99UL -> (sampleOf key d).[2] ]
    Assert.Equal(100, rewardsByDraw |> List.distinct |> List.length)
    Assert.NotEqual<float32[] list>(sampleOf key 0UL, sampleOf (PhiloxKey.FromSeed 43UL) 0UL)

let ``sampling a full buffer is uniform over its slots (chi-square, fixed key)`` = testCase "sampling a full buffer is uniform over its slots (chi-square, fixed key)" <| fun () ->
    let capacity = 64
    let buf = ReplayBuffer(capacity, 1, 1)
    // 100 adds wrap the ring, so the check covers overwritten slots too.
    for id in 0 .. 99 do buf.Add(ReadOnlySpan [| 0.0f |], ReadOnlySpan [| 0.0f |], float32 id, ReadOnlySpan [| 0.0f |], false, false)
    let batch = Batch(256, 1, 1)
    let counts = Array.zeroCreate<int> capacity
    let draws = 250
    for d in 0 .. draws - 1 do
        buf.Sample(PhiloxKey.FromSeed 2024UL, uint64 d, batch)
        for r in batch.Rewards do counts.[int r % capacity] <- counts.[int r % capacity] + 1
    let expected = float (draws * batch.Size) / float capacity
    let chi2 = counts |> Array.sumBy (fun c -> (float c - expected) ** 2.0 / expected)
    // 63 degrees of freedom: mean 63, sd about 11.2; 130 is six standard deviations out (p below 1e-6).
    Assert.True(chi2 < 130.0, sprintf "chi-square %.1f over %d slots is too large for uniform sampling" chi2 capacity)
    Assert.True(counts |> Array.forall (fun c -> c > 0))

let ``Add and Sample allocate nothing after warm-up`` = testCase "Add and Sample allocate nothing after warm-up" <| fun () ->
    let obsSize, actSize = 17, 6
    let buf = ReplayBuffer(1000, obsSize, actSize)
    let batch = Batch(256, obsSize, actSize)
    let slots = Array.zeroCreate<int> 256
    let obs = Array.init obsSize float32
    let act = Array.init actSize (fun k -> 0.1f * float32 k)
    let next = Array.init obsSize (fun k -> float32 k + 1.0f)
    let key = PhiloxKey.FromSeed 5UL
    let run (adds: int) (samples: int) =
        for i in 0 .. adds - 1 do
            buf.Add(ReadOnlySpan obs, ReadOnlySpan act, float32 i, ReadOnlySpan next, i % 7 = 0, i % 11 = 0)
        for d in 0 .. samples - 1 do
            buf.Sample(key, uint64 d, batch)
            buf.SampleSlots(key, uint64 d, Span slots)
    run 1500 30
    let before = GC.GetAllocatedBytesForCurrentThread()
    run 5000 200
    let after = GC.GetAllocatedBytesForCurrentThread()
    Assert.Equal(0L, after - before)

// ---------- save / restore ----------

let private snapshot (b: ReplayBuffer) =
    b.Observations.ToArray(), b.Actions.ToArray(), b.Rewards.ToArray(),
    b.NextObservations.ToArray(), b.Terminated.ToArray(), b.Truncated.ToArray()

let private restoreArrays capacity obsSize actSize totalAdded (o: float32[], a: float32[], r: float32[], n: float32[], te: float32[], tr: float32[]) =
    ReplayBuffer.Restore(capacity, obsSize, actSize, totalAdded,
                         ReadOnlySpan o, ReadOnlySpan a, ReadOnlySpan r, ReadOnlySpan n, ReadOnlySpan te, ReadOnlySpan tr)

let private restore (b: ReplayBuffer) =
    restoreArrays b.Capacity b.ObservationSize b.ActionSize b.TotalAdded (snapshot b)

let ``save and restore round-trips exactly, and further adds and samples agree`` =
    let genCase =
        gen {
            let! capacity = Gen.choose (1, 20)
            let! obsSize = Gen.choose (1, 4)
            let! actSize = Gen.choose (1, 3)
            let! before = Gen.listOf (genTransition obsSize actSize)
            let! after = Gen.listOf (genTransition obsSize actSize)
            let! seed = Gen.choose (0, Int32.MaxValue)
            return capacity, obsSize, actSize, before, after, seed
        }
    let prop (capacity, obsSize, actSize, before: Transition list, after: Transition list, seed) =
        let original = ReplayBuffer(capacity, obsSize, actSize)
        before |> List.iter original.Add
        let restored = restore original
        let same () =
            Assert.Equal(original.Count, restored.Count)
            Assert.Equal(original.Position, restored.Position)
            Assert.Equal(original.TotalAdded, restored.TotalAdded)
            Assert.Equal(snapshot original, snapshot restored)
        same ()
        let key = PhiloxKey.FromSeed(uint64 seed)
        let sampleBoth draw =
            if original.Count > 0 then
                let b1, b2 = Batch(16, obsSize, actSize), Batch(16, obsSize, actSize)
                original.Sample(key, draw, b1)
                restored.Sample(key, draw, b2)
                Assert.Equal<float32[] list>(batchArrays b1, batchArrays b2)
        sampleBoth 0UL
        after |> List.iteri (fun i t ->
            original.Add t
            restored.Add t
            sampleBoth (uint64 (i + 1)))
        same ()
    testPropertyWithConfig (Properties.ofFsCheck config) "save and restore round-trips exactly, and further adds and samples agree" (Prop.forAll (Arb.fromGen genCase) prop)

let ``Restore rejects snapshots that disagree with the sizes, name the argument, and accept an empty buffer`` = testCase "Restore rejects snapshots that disagree with the sizes, name the argument, and accept an empty buffer" <| fun () ->
    let z n = Array.zeroCreate<float32> n
    // 7 added into capacity 5: Count 5, so observations need 5 * 2 values.
    throwsNaming "observations" (fun () -> restoreArrays 5 2 1 7L (z 8, z 5, z 5, z 10, z 5, z 5) |> ignore) |> ignore
    throwsNaming "actions" (fun () -> restoreArrays 5 2 1 7L (z 10, z 4, z 5, z 10, z 5, z 5) |> ignore) |> ignore
    throwsNaming "truncated" (fun () -> restoreArrays 5 2 1 3L (z 6, z 3, z 3, z 6, z 3, z 5) |> ignore) |> ignore
    let ex = throwsNaming "terminated" (fun () -> restoreArrays 2 1 1 2L (z 2, z 2, z 2, z 2, [| 0.0f; 0.5f |], z 2) |> ignore)
    Assert.Contains("terminated[1]", ex.Message)
    throwsNaming "rewards" (fun () -> restoreArrays 2 1 1 2L (z 2, z 2, [| 1.0f; nanf |], z 2, z 2, z 2) |> ignore) |> ignore
    throwsNaming "totalAdded" (fun () -> restoreArrays 2 1 1 -1L (z 0, z 0, z 0, z 0, z 0, z 0) |> ignore) |> ignore
    let empty = restoreArrays 4 3 2 0L (z 0, z 0, z 0, z 0, z 0, z 0)
    Assert.Equal(0, empty.Count)
    Assert.Equal(0, empty.Position)

// ---------- validation: Transition, Batch, ReplayBuffer ----------

let ``Transition validation errors name the field and the index`` = testCase "Transition validation errors name the field and the index" <| fun () ->
    let ok = [| 1.0f; 2.0f; 3.0f |]
    let a = [| 0.5f |]
    Assert.Equal("Observation", Assert.Throws<ArgumentNullException>(fun () -> Transition(Unchecked.defaultof<float32[]>, a, 0.0f, ok, false, false) |> ignore).ParamName)
    throwsNaming "Action" (fun () -> Transition(ok, [||], 0.0f, ok, false, false) |> ignore) |> ignore
    let ex = throwsNaming "Observation" (fun () -> Transition([| 1.0f; 2.0f; nanf |], a, 0.0f, ok, false, false) |> ignore)
    Assert.Contains("Observation[2]", ex.Message)
    let ex = throwsNaming "NextObservation" (fun () -> Transition(ok, a, 0.0f, [| infinityf; 0.0f; 0.0f |], false, false) |> ignore)
    Assert.Contains("NextObservation[0]", ex.Message)
    let ex = throwsNaming "Action" (fun () -> Transition(ok, [| 0.0f; -infinityf |], 0.0f, ok, false, false) |> ignore)
    Assert.Contains("Action[1]", ex.Message)
    throwsNaming "Reward" (fun () -> Transition(ok, a, nanf, ok, false, false) |> ignore) |> ignore
    throwsNaming "NextObservation" (fun () -> Transition(ok, a, 0.0f, [| 1.0f |], false, false) |> ignore) |> ignore

let ``Transition copies its arrays, compares by contents, and validates with-expressions`` = testCase "Transition copies its arrays, compares by contents, and validates with-expressions" <| fun () ->
    let obs = [| 1.0f; 2.0f |]
    let t = Transition(obs, [| 0.5f |], 1.0f, [| 3.0f; 4.0f |], true, false)
    obs.[0] <- 99.0f
    Assert.Equal(1.0f, t.Observation.[0])
    let same = Transition([| 1.0f; 2.0f |], [| 0.5f |], 1.0f, [| 3.0f; 4.0f |], true, false)
    Assert.Equal(same, t)
    Assert.Equal(same.GetHashCode(), t.GetHashCode())
    Assert.NotEqual(t, Transition([| 1.0f; 2.0f |], [| 0.5f |], 1.0f, [| 3.0f; 4.0f |], true, true))
    Assert.Contains("Observation = [1, 2]", t.ToString())
    // `t with { Reward = 2f }` is fine; `t with { Reward = NaN }` and a longer observation are rejected by the setters.
    Assert.Equal(2.0f, (withProperty t "Reward" (box 2.0f)).Reward)
    throwsNaming "Reward" (fun () -> withProperty t "Reward" (box nanf) |> ignore) |> ignore
    throwsNaming "Observation" (fun () -> withProperty t "Observation" (box [| 1.0f; 2.0f; 3.0f |]) |> ignore) |> ignore

let ``Batch and ReplayBuffer constructors validate their sizes and name them`` = testCase "Batch and ReplayBuffer constructors validate their sizes and name them" <| fun () ->
    throwsNaming "size" (fun () -> Batch(0, 3, 1) |> ignore) |> ignore
    throwsNaming "observationSize" (fun () -> Batch(4, 0, 1) |> ignore) |> ignore
    throwsNaming "actionSize" (fun () -> Batch(4, 3, -1) |> ignore) |> ignore
    let b = Batch(4, 3, 2)
    Assert.Equal(12, b.Observations.Length)
    Assert.Equal(8, b.Actions.Length)
    Assert.Equal(4, b.Rewards.Length)
    Assert.Equal(12, b.NextObservations.Length)
    Assert.Equal(4, b.Terminated.Length)
    Assert.Equal(4, b.Truncated.Length)
    Assert.Throws<ArgumentOutOfRangeException>(fun () -> b.ObservationRow(4).Length |> ignore) |> ignore
    throwsNaming "capacity" (fun () -> ReplayBuffer(0, 3, 1) |> ignore) |> ignore
    throwsNaming "observationSize" (fun () -> ReplayBuffer(10, 0, 1) |> ignore) |> ignore
    throwsNaming "actionSize" (fun () -> ReplayBuffer(10, 3, 0) |> ignore) |> ignore
    // Too large for one array: refused before anything is allocated.
    let ex = throwsNaming "capacity" (fun () -> ReplayBuffer(1_000_000_000, 10, 1) |> ignore)
    Assert.Contains("observationSize", ex.Message)

let ``Add and Sample reject bad shapes naming the sizes, reject non-finite data, and refuse an empty buffer`` = testCase "Add and Sample reject bad shapes naming the sizes, reject non-finite data, and refuse an empty buffer" <| fun () ->
    let buf = ReplayBuffer(8, 3, 2)
    let key = PhiloxKey.FromSeed 1UL
    Assert.Throws<InvalidOperationException>(fun () -> buf.Sample(key, 0UL, Batch(4, 3, 2))) |> ignore
    Assert.Throws<InvalidOperationException>(fun () -> buf.SampleSlots(key, 0UL, Span(Array.zeroCreate<int> 4))) |> ignore
    let o3, a2 = [| 1.0f; 2.0f; 3.0f |], [| 0.0f; 1.0f |]
    let ex = throwsNaming "observation" (fun () -> buf.Add(ReadOnlySpan [| 1.0f; 2.0f |], ReadOnlySpan a2, 0.0f, ReadOnlySpan o3, false, false))
    Assert.Contains("2", ex.Message)
    Assert.Contains("ObservationSize is 3", ex.Message)
    throwsNaming "action" (fun () -> buf.Add(ReadOnlySpan o3, ReadOnlySpan [| 0.0f |], 0.0f, ReadOnlySpan o3, false, false)) |> ignore
    throwsNaming "nextObservation" (fun () -> buf.Add(ReadOnlySpan o3, ReadOnlySpan a2, 0.0f, ReadOnlySpan a2, false, false)) |> ignore
    let ex = throwsNaming "nextObservation" (fun () -> buf.Add(ReadOnlySpan o3, ReadOnlySpan a2, 0.0f, ReadOnlySpan [| 0.0f; nanf; 0.0f |], false, false))
    Assert.Contains("nextObservation[1]", ex.Message)
    throwsNaming "reward" (fun () -> buf.Add(ReadOnlySpan o3, ReadOnlySpan a2, infinityf, ReadOnlySpan o3, false, false)) |> ignore
    throwsNaming "action" (fun () -> buf.Add(Transition(o3, [| 0.0f |], 0.0f, o3, false, false))) |> ignore
    // Rejected adds changed nothing.
    Assert.Equal(0, buf.Count)
    Assert.Equal(0L, buf.TotalAdded)
    buf.Add(ReadOnlySpan o3, ReadOnlySpan a2, 1.0f, ReadOnlySpan o3, false, false)
    let ex = throwsNaming "into.ObservationSize" (fun () -> buf.Sample(key, 0UL, Batch(4, 5, 2)))
    Assert.Contains("into.ObservationSize is 5", ex.Message)
    Assert.Contains("ObservationSize is 3", ex.Message)
    throwsNaming "into.ActionSize" (fun () -> buf.Sample(key, 0UL, Batch(4, 3, 1))) |> ignore
    throwsNaming "slots" (fun () -> buf.SampleSlots(key, 0UL, Span<int>.Empty)) |> ignore
    Assert.Throws<ArgumentOutOfRangeException>(fun () -> buf.Sample(key, UInt64.MaxValue, Batch(4, 3, 2))) |> ignore
    Assert.Throws<ArgumentOutOfRangeException>(fun () -> buf.GetTransition 1 |> ignore) |> ignore

let tests = testList "ReplayBuffer" [
    ``ring buffer matches a reference model of the last capacity transitions under random add sequences``
    ``a full ring overwrites exactly the oldest transition``
    ``terminated and truncated are stored and sampled separately, in all four combinations``
    ``sampled rows are whole stored transitions, drawn only among the stored ones, and match SampleSlots``
    ``a team's parts sample the batch one thread samples, row for row, and refuse what it refuses``
    ``the same key and draw give the same batch; other draws and other keys give different batches``
    ``sampling a full buffer is uniform over its slots (chi-square, fixed key)``
    ``Add and Sample allocate nothing after warm-up``
    ``save and restore round-trips exactly, and further adds and samples agree``
    ``Restore rejects snapshots that disagree with the sizes, name the argument, and accept an empty buffer``
    ``Transition validation errors name the field and the index``
    ``Transition copies its arrays, compares by contents, and validates with-expressions``
    ``Batch and ReplayBuffer constructors validate their sizes and name them``
    ``Add and Sample reject bad shapes naming the sizes, reject non-finite data, and refuse an empty buffer``
]
