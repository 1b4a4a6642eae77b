module Smoke
open Xunit
[<Fact>]
let ``fscheck runs`` () = FsCheck.Check.One(FsCheck.Config.QuickThrowOnFailure, fun (x:int) -> x + 0 = x)
