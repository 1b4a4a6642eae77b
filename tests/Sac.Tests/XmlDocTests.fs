/// Every public type and member of Sac.Core, Sac.Cuda and Sac.Fs has a real XML <summary> in the documentation file
/// its compiler wrote (copied beside the assembly). C# already refuses a missing one (CS1591); F# does not warn, so
/// this is the check for Sac.Fs, and for empty or placeholder summaries everywhere.
module XmlDocTests

open System
open System.Collections.Generic
open System.IO
open System.Reflection
open System.Runtime.CompilerServices
open System.Xml.Linq
open Microsoft.FSharp.Reflection
open Xunit
open Expecto
open FsCheck
open FsCheck.FSharp

/// Reads an assembly's public surface against its XML documentation.
module XmlDocCheck =

    /// A type's name inside a documentation id (ECMA-334 annex D): nested types joined by '.', generic arguments
    /// in braces, type parameters as `n and method type parameters as ``n.
    let rec typeId (t: Type) : string =
        if t.IsGenericParameter then
            if isNull t.DeclaringMethod then sprintf "`%d" t.GenericParameterPosition
            else sprintf "``%d" t.GenericParameterPosition
        elif t.IsByRef then typeId (nonNull (t.GetElementType())) + "@"
        elif t.IsPointer then typeId (nonNull (t.GetElementType())) + "*"
        elif t.IsArray then
            let dims = if t.IsSZArray then "[]" else "[" + String.Join(",", Array.create (t.GetArrayRank()) "0:") + "]"
            typeId (nonNull (t.GetElementType())) + dims
        elif t.IsGenericType && not t.IsGenericTypeDefinition then
            let args = t.GetGenericArguments()
            // Each nesting level lists only the arguments it adds to those of its declaring type.
            let rec build (d: Type) =
                let outer = if d.IsNested then (nonNull d.DeclaringType).GetGenericArguments().Length else 0
                let own = d.GetGenericArguments().Length
                let tick = d.Name.IndexOf '`'
                let baseName = if tick >= 0 then d.Name.Substring(0, tick) else d.Name
                let prefix =
                    if d.IsNested then build (nonNull d.DeclaringType) + "."
                    elif String.IsNullOrEmpty d.Namespace then ""
                    else nonNull d.Namespace + "."
                let mine = args.[outer .. own - 1]
                prefix + baseName + (if mine.Length = 0 then "" else "{" + String.Join(",", mine |> Array.map typeId) + "}")
            build (t.GetGenericTypeDefinition())
        else (nonNull t.FullName).Replace('+', '.')

    /// The documentation id of a type definition.
    let typeDocId (t: Type) = "T:" + (nonNull t.FullName).Replace('+', '.')

    let private mapping (m: MemberInfo) =
        m.GetCustomAttributes(typeof<CompilationMappingAttribute>, false)
        |> Seq.cast<CompilationMappingAttribute>
        |> Seq.tryHead
        |> Option.map (fun a -> a.SourceConstructFlags &&& SourceConstructFlags.KindMask)

    let private isFSharp (kind: SourceConstructFlags) (t: Type) = mapping t = Some kind

    let private isUnion (t: Type) = isFSharp SourceConstructFlags.SumType t

    /// The documentation id of a member: kind, declaring type, name, generic arity, parameter types (and the target
    /// of a conversion operator). An F# module's [<Literal>] compiles to a const field, but F# writes its docs
    /// under the property id, as for any other module value.
    let memberDocId (m: MemberInfo) =
        let owner = (nonNull (nonNull m.DeclaringType).FullName).Replace('+', '.')
        let pars (ps: ParameterInfo[]) =
            if ps.Length = 0 then "" else "(" + String.Join(",", ps |> Array.map (fun p -> typeId p.ParameterType)) + ")"
        match m with
        | :? ConstructorInfo as c -> "M:" + owner + (if c.IsStatic then ".#cctor" else ".#ctor") + pars (c.GetParameters())
        | :? MethodInfo as mi ->
            let arity = if mi.IsGenericMethodDefinition then sprintf "``%d" (mi.GetGenericArguments().Length) else ""
            let conversion = if mi.Name = "op_Implicit" || mi.Name = "op_Explicit" then "~" + typeId mi.ReturnType else ""
            "M:" + owner + "." + mi.Name + arity + pars (mi.GetParameters()) + conversion
        | :? PropertyInfo as p -> "P:" + owner + "." + p.Name + pars (p.GetIndexParameters())
        | :? FieldInfo as f when f.IsLiteral && isFSharp SourceConstructFlags.Module (nonNull f.DeclaringType) -> "P:" + owner + "." + f.Name
        | :? FieldInfo -> "F:" + owner + "." + m.Name
        | :? EventInfo -> "E:" + owner + "." + m.Name
        | _ -> invalidArg (nameof m) (sprintf "no documentation id for the %A %s" m.MemberType m.Name)

    /// The nested classes F# writes for a union: one per case with fields (documented through the case) and Tags.
    let private isUnionHelperType (t: Type) =
        t.IsNested && isUnion (nonNull t.DeclaringType) && (t.BaseType = t.DeclaringType || t.Name = "Tags")

    /// A parameterless constructor whose body ends by calling the base type's parameterless constructor (after any
    /// field initialisers): what C# writes for a class that declares no constructor.
    let private isImplicitDefaultConstructor (c: ConstructorInfo) =
        if c.IsStatic || c.GetParameters().Length > 0 || isNull (nonNull c.DeclaringType).BaseType then false
        else
            match c.GetMethodBody() with
            | null -> false
            | body ->
                let il = nonNull (body.GetILAsByteArray())
                let n = il.Length
                // call instance void Base::.ctor() (0x28, token); ret (0x2A)
                n >= 6 && il.[n - 1] = 0x2Auy && il.[n - 6] = 0x28uy
                && (match c.Module.ResolveMethod(BitConverter.ToInt32(il, n - 5)) with
                    | :? ConstructorInfo as b -> b.DeclaringType = (nonNull c.DeclaringType).BaseType && b.GetParameters().Length = 0
                    | _ -> false)

    /// Members nobody can document: compiler output (record and union equality, comparison, printing, Deconstruct,
    /// clone, union testers, Tag and case constructors, F# record and exception constructors, C# implicit default
    /// constructors), accessors (documented through their property or event), enum value__, the runtime-supplied
    /// methods of a delegate, and nested types (checked as exported types).
    let private isUndocumentable (t: Type) (accessors: HashSet<MethodInfo>) (m: MemberInfo) =
        m.IsDefined(typeof<CompilerGeneratedAttribute>, false)
        || mapping m = Some SourceConstructFlags.UnionCase
        || (isUnion t && mapping m = Some SourceConstructFlags.Field)
        || (match m with
            | :? MethodInfo as mi -> accessors.Contains mi || mi.MethodImplementationFlags.HasFlag MethodImplAttributes.Runtime
            | :? ConstructorInfo as c ->
                c.MethodImplementationFlags.HasFlag MethodImplAttributes.Runtime
                || isFSharp SourceConstructFlags.RecordType t
                || isFSharp SourceConstructFlags.Exception t
                || isImplicitDefaultConstructor c
            | :? FieldInfo as f -> t.IsEnum && f.IsSpecialName && not f.IsStatic
            | :? Type -> true
            | _ -> false)

    let private declaredFlags = BindingFlags.Public ||| BindingFlags.Instance ||| BindingFlags.Static ||| BindingFlags.DeclaredOnly

    /// The documentation ids that must carry a summary: every exported type, every case of an exported F# union and
    /// every public declared member anyone could document. An F# class's primary constructor takes its docs from
    /// the type (parameters as <param>), so one undocumented constructor of an F# class is allowed, not two.
    let required (asm: Assembly) (documented: string -> bool) : string list =
        [ for t in asm.GetExportedTypes() do
            if not (isUnionHelperType t) then
                yield typeDocId t
                if FSharpType.IsUnion(t, BindingFlags.Public) then
                    for case in FSharpType.GetUnionCases(t, BindingFlags.Public) do
                        yield typeDocId t + "." + case.Name
                let accessors = HashSet<MethodInfo>()
                let all = declaredFlags ||| BindingFlags.NonPublic
                for p in t.GetProperties all do
                    for a in p.GetAccessors true do accessors.Add a |> ignore
                for e in t.GetEvents all do
                    for a in [ e.AddMethod; e.RemoveMethod; e.RaiseMethod ] do
                        match a with
                        | null -> ()
                        | a -> accessors.Add a |> ignore
                let members = t.GetMembers declaredFlags |> Array.filter (fun m -> not (isUndocumentable t accessors m))
                let isFSharpCtor (m: MemberInfo) =
                    match m with
                    | :? ConstructorInfo as c -> not c.IsStatic && isFSharp SourceConstructFlags.ObjectType t
                    | _ -> false
                let fsCtors, others = members |> Array.partition isFSharpCtor
                let undocumented = fsCtors |> Array.map memberDocId |> Array.filter (documented >> not)
                for c in fsCtors do
                    let id = memberDocId c
                    if undocumented.Length <> 1 || id <> undocumented.[0] then yield id
                for m in others do yield memberDocId m ]

    /// Text that marks a summary as unfinished (case-insensitive).
    let placeholders = [| "TODO"; "TBD"; "FIXME"; "XXX"; "placeholder" |]

    /// Why an entry does not document its member, or None when it has a real summary or inherits one.
    let problem (entry: XElement option) =
        match entry with
        | None -> Some "no documentation"
        | Some e when not (isNull (e.Element(XName.Get "inheritdoc"))) -> None
        | Some e ->
            match e.Element(XName.Get "summary") with
            | null -> Some "no <summary>"
            | s ->
                let text = String.Join(" ", s.Value.Split([| ' '; '\t'; '\r'; '\n' |], StringSplitOptions.RemoveEmptyEntries))
                let refs = s.Descendants() |> Seq.exists (fun d -> d.HasAttributes)
                if text.Length = 0 && not refs then Some "empty <summary>"
                elif text.Trim('.', ' ', '…').Length = 0 && not refs then Some(sprintf "placeholder <summary>: '%s'" text)
                else
                    placeholders
                    |> Array.tryFind (fun p -> text.Contains(p, StringComparison.OrdinalIgnoreCase))
                    |> Option.map (fun _ -> sprintf "placeholder <summary>: '%s'" text)

    /// "id: reason" for each required id of the assembly that the given documentation does not cover.
    let gapsIn (asm: Assembly) (doc: XDocument) : string list =
        let entries = Dictionary<string, XElement>()
        for e in doc.Descendants(XName.Get "member") do
            entries.[(nonNull (e.Attribute(XName.Get "name"))).Value] <- e
        let entry id = match entries.TryGetValue id with | true, e -> Some e | _ -> None
        required asm (fun id -> (problem (entry id)).IsNone)
        |> List.choose (fun id -> problem (entry id) |> Option.map (fun why -> id + ": " + why))

    /// The documentation file the compiler wrote for an assembly, as copied beside it.
    let docFile (asm: Assembly) = Path.ChangeExtension(asm.Location, ".xml")

    /// The gaps of an assembly against its own documentation file.
    let gaps (asm: Assembly) = gapsIn asm (XDocument.Load(nonNull (docFile asm)))

let private libraries =
    [ typeof<Sac.Core.Compute.Tensor>.Assembly
      typeof<Sac.Cuda.Backend.ISacBackend>.Assembly
      typeof<Sac.Fs.LogStdRange>.Assembly ]

let private assertNoGaps (asm: Assembly) =
    let gaps = XmlDocCheck.gaps asm
    Assert.True(gaps.IsEmpty, sprintf "%s: %d undocumented:\n%s" (asm.GetName().Name) gaps.Length (String.Join("\n", gaps)))

let ``each library's XML documentation file is beside it in the test output`` = testCase "each library's XML documentation file is beside it in the test output" <| fun () ->
    for asm in libraries do
        Assert.True(File.Exists(XmlDocCheck.docFile asm), XmlDocCheck.docFile asm)

let ``Sac.Core documents every public type and member`` = testCase "Sac.Core documents every public type and member" <| fun () -> assertNoGaps libraries.[0]

let ``Sac.Cuda documents every public type and member`` = testCase "Sac.Cuda documents every public type and member" <| fun () -> assertNoGaps libraries.[1]

let ``Sac.Fs documents every public type, union case, record field and member`` = testCase "Sac.Fs documents every public type, union case, record field and member" <| fun () -> assertNoGaps libraries.[2]

let private fsAssembly = libraries.[2]

let private fsDoc = lazy (XDocument.Load(nonNull (XmlDocCheck.docFile fsAssembly)))

let private fsNames =
    lazy (fsDoc.Value.Descendants(XName.Get "member") |> Seq.map (fun e -> (nonNull (e.Attribute(XName.Get "name"))).Value) |> set)

let private fsRequired =
    lazy (XmlDocCheck.required fsAssembly fsNames.Value.Contains |> List.toArray)

// Constructors are left out of the edit-one-entry properties: an F# class may leave one constructor undocumented
// (its primary constructor's docs are the type's), so dropping the only public one is allowed by that rule.
let private documentedNonConstructors = lazy (fsRequired.Value |> Array.filter (fun id -> not (id.Contains "#ctor")))

/// The Sac.Fs documentation with the entry of one id changed by edit (a copy; the file is untouched).
let private editedFsDoc (id: string) (edit: XElement -> unit) =
    let doc = XDocument(fsDoc.Value)
    let e = doc.Descendants(XName.Get "member") |> Seq.find (fun e -> (nonNull (e.Attribute(XName.Get "name"))).Value = id)
    edit e
    doc

let ``what must be documented includes union cases, record fields, literals and module functions`` = testCase "what must be documented includes union cases, record fields, literals and module functions" <| fun () ->
    let required = set fsRequired.Value
    for id in [ "T:Sac.Fs.LogStdRange.Clamp"
                "T:Sac.Fs.CallbackDecision.Continue"
                "P:Sac.Fs.EvaluationResult.Mean"
                "P:Sac.Fs.Svgd.SquashEpsilon"
                "M:Sac.Fs.TanhGaussian.LogStd(Sac.Fs.LogStdRange,System.Single)"
                "M:Sac.Fs.Trainer.#ctor(System.String,Sac.Core.Config.SacConfig,Sac.Core.Compute.IGemm)"
                "M:Sac.Fs.Trainer.#ctor(System.String,Sac.Core.Config.SacConfig,Sac.Core.Compute.IGemm,Sac.Cuda.Backend.ISacBackend)" ] do
        Assert.Contains(id, required)

let ``what the compilers generate is not required`` = testCase "what the compilers generate is not required" <| fun () ->
    let fs = set fsRequired.Value
    for id in [ "M:Sac.Fs.LogStdRange.NewClamp(System.Single,System.Single)"
                "P:Sac.Fs.LogStdRange.Tag"
                "P:Sac.Fs.LogStdRange.IsClamp"
                "T:Sac.Fs.LogStdRange.Tags"
                "P:Sac.Fs.CallbackDecision.Continue"
                "M:Sac.Fs.EvaluationResult.Equals(System.Object)"
                "M:Sac.Fs.EvaluationResult.#ctor(System.Double[],System.Double,System.Double)"
                "M:Sac.Fs.EvaluationResult.get_Mean"
                "M:Sac.Fs.RolloutPolicy.Invoke(System.Int64,System.Single[],System.Single[])" ] do
        Assert.DoesNotContain(id, fs)
    let core = set (XmlDocCheck.required libraries.[0] (fun _ -> true))
    for id in [ "F:Sac.Core.Compute.Activation.value__"; "M:Sac.Core.Config.SacConfig.#ctor"; "M:Sac.Core.Config.SacConfig.op_Equality(Sac.Core.Config.SacConfig,Sac.Core.Config.SacConfig)" ] do
        Assert.DoesNotContain(id, core)
    Assert.Contains("T:Sac.Core.Config.SacConfig", core)

let ``removing any required entry is reported`` =
    let prop =
        Prop.forAll (Arb.fromGen (Gen.elements documentedNonConstructors.Value)) (fun id ->
            let gaps = XmlDocCheck.gapsIn fsAssembly (editedFsDoc id (fun e -> e.Remove()))
            gaps |> List.contains (id + ": no documentation"))
    testPropertyWithConfig (Properties.ofFsCheck (Config.QuickThrowOnFailure.WithMaxTest 40)) "removing any required entry is reported" (prop)

let ``an empty or placeholder summary is reported`` =
    let texts = Array.append [| ""; "   "; "..."; "…" |] (XmlDocCheck.placeholders |> Array.map (fun p -> p + ": describe this."))
    let prop =
        Prop.forAll (Arb.fromGen (Gen.zip (Gen.elements documentedNonConstructors.Value) (Gen.elements texts))) (fun (id, text) ->
            let doc = editedFsDoc id (fun e -> e.RemoveNodes(); e.Add(XElement(XName.Get "summary", text)))
            let gaps = XmlDocCheck.gapsIn fsAssembly doc
            gaps |> List.exists (fun g -> g.StartsWith(id + ": ") && (g.Contains "empty" || g.Contains "placeholder")))
    testPropertyWithConfig (Properties.ofFsCheck (Config.QuickThrowOnFailure.WithMaxTest 40)) "an empty or placeholder summary is reported" (prop)

let ``a summary-less entry is reported and an inheritdoc entry is accepted`` = testCase "a summary-less entry is reported and an inheritdoc entry is accepted" <| fun () ->
    let id = "P:Sac.Fs.EvaluationResult.Mean"
    let noSummary = editedFsDoc id (fun e -> e.RemoveNodes(); e.Add(XElement(XName.Get "remarks", "The mean.")))
    Assert.Contains(id + ": no <summary>", XmlDocCheck.gapsIn fsAssembly noSummary)
    let inherits = editedFsDoc id (fun e -> e.RemoveNodes(); e.Add(XElement(XName.Get "inheritdoc")))
    Assert.Empty(XmlDocCheck.gapsIn fsAssembly inherits)

let tests = testList "XmlDoc" [
    ``each library's XML documentation file is beside it in the test output``
    ``Sac.Core documents every public type and member``
    ``Sac.Cuda documents every public type and member``
    ``Sac.Fs documents every public type, union case, record field and member``
    ``what must be documented includes union cases, record fields, literals and module functions``
    ``what the compilers generate is not required``
    ``removing any required entry is reported``
    ``an empty or placeholder summary is reported``
    ``a summary-less entry is reported and an inheritdoc entry is accepted``
]
