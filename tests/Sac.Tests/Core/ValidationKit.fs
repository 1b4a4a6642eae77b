/// What the validation tests of Sac.Core share: an ArgumentException that names its field, and a setter called by name.
module ValidationKit

open System
open System.Reflection
open Xunit

let throwsNaming (field: string) (f: unit -> unit) =
    let ex = Assert.ThrowsAny<ArgumentException>(Action f)
    Assert.Equal(field, ex.ParamName)
    ex

/// Does what a C# `with` expression compiles to: clone, then call the init-only setter on the clone.
let withProperty (record: 'T) (name: string) (value: objnull) : 'T =
    let clone = (nonNull (typeof<'T>.GetMethod "<Clone>$")).Invoke(record, [||]) :?> 'T
    try
        (nonNull (typeof<'T>.GetProperty name)).SetValue(clone, value)
    with :? TargetInvocationException as e -> raise (nonNull e.InnerException)
    clone
