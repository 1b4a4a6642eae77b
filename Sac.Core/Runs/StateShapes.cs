using System;
using Sac.Core.Networks;
using Sac.Core.Optim;
using Sac.Core.Random;

using static Sac.Core.Runs.CheckpointFraming;

namespace Sac.Core.Runs;

/// <summary>A length a checkpoint header implies, how to explain it, and what a mismatch is called.</summary>
/// <param name="Count">The element count.</param>
/// <param name="Description">The count with its reason, as messages say it: "67 (the actor MLP [3, 8, 2])".</param>
/// <param name="Reason">What a section of another length is reported as.</param>
internal readonly record struct Expected(long Count, string Description, CheckpointFailure Reason = CheckpointFailure.ShapeMismatch)
{
    /// <summary>The parameter count of the MLP <paramref name="sizes"/>, described as "the <paramref name="what"/> MLP".</summary>
    public static Expected Network(string what, int[] sizes)
    {
        int count = new MlpSpec(sizes).ParameterCount;
        return new(count, $"{count} (the {what} MLP [{string.Join(", ", sizes)}])");
    }
}

/// <summary>
/// The array lengths a checkpoint header implies, and the checks and reads of a learner's sections against them, in
/// the wording every algorithm's messages share ("... for observation size 3, action size 1, hidden [8, 8]").
/// </summary>
/// <param name="context">The sizes behind the expectations, ending the messages.</param>
internal abstract class StateShapes(string context)
{
    /// <summary>The sizes behind the expectations, for messages: "for observation size 3, action size 1, hidden [8, 8]".</summary>
    public string Context { get; } = context;

    /// <summary>Save side: <paramref name="values"/> (the caller's field <paramref name="name"/>) has the implied length.</summary>
    public void Check(float[]? values, string name, Expected expected)
    {
        if (values is null)
            throw new ArgumentException($"{name} is null; a checkpoint needs {expected.Description} floats there.", "state");
        if (values.Length != expected.Count)
            throw new ArgumentException($"{name} has {values.Length} floats, but the header {Context} needs {expected.Description}.", "state");
    }

    /// <summary>Save side: an Adam state's moments have the implied length and its step is not negative.</summary>
    public void Check(AdamState adam, string name, Expected expected)
    {
        Check(adam.FirstMoment, name + ".FirstMoment", expected);
        Check(adam.SecondMoment, name + ".SecondMoment", expected);
        CheckStep(adam.Step, name + ".Step");
    }

    /// <summary>Save side: a step count is zero or more.</summary>
    public static void CheckStep(long step, string name)
    {
        if (step < 0)
            throw new ArgumentException($"{name} must be zero or more, got {step}.", "state");
    }

    /// <summary>Load side: the next section is float32 <paramref name="name"/> of the implied length.</summary>
    public float[] Floats(CheckpointReader r, string name, Expected expected)
    {
        long count = r.SectionHead(name, CheckpointSectionType.Float32);
        if (count != expected.Count)
            throw r.Fail(expected.Reason, $"section '{name}' has {count} floats, expected {expected.Description} {Context}.");
        return r.Floats(name, count);
    }

    /// <summary>Load side: the sections <c>NAME.step</c>, <c>NAME.first_moment</c>, <c>NAME.second_moment</c>.</summary>
    public AdamState Adam(CheckpointReader r, string name, Expected expected)
    {
        long step = Step(r, name + ".step");
        float[] first = Floats(r, name + ".first_moment", expected);
        float[] second = Floats(r, name + ".second_moment", expected);
        return new AdamState(step, first, second);
    }

    /// <summary>Writes an Adam state as <see cref="Adam"/> reads it.</summary>
    public static void Emit(CheckpointWriter w, string name, AdamState adam)
    {
        w.Int64s(name + ".step", [adam.Step]);
        w.Floats(name + ".first_moment", adam.FirstMoment);
        w.Floats(name + ".second_moment", adam.SecondMoment);
    }

    /// <summary>Writes the learner's update count and random key, as <see cref="StepAndKey"/> reads them.</summary>
    public static void Emit(CheckpointWriter w, long step, PhiloxKey key)
    {
        w.Int64s("step", [step]);
        w.UInt32s("key", [key.K0, key.K1]);
    }

    /// <summary>Load side: the sections <c>step</c> (one int64, not negative) and <c>key</c> (uint32 K0, K1).</summary>
    public static (long Step, PhiloxKey Key) StepAndKey(CheckpointReader r)
    {
        long step = Step(r, "step");
        long at = r.Position;
        long keyCount = r.SectionHead("key", CheckpointSectionType.UInt32);
        if (keyCount != 2)
            throw r.Fail(CheckpointFailure.Malformed, $"section 'key' (section {at}) has {keyCount} elements, expected 2 (K0, K1).");
        uint[] key = r.UInt32s("key", keyCount);
        return (step, new PhiloxKey(key[0], key[1]));
    }

    static long Step(CheckpointReader r, string name) => NonNegative(r, name, Int64s(r, name, 1)[0]);
}
