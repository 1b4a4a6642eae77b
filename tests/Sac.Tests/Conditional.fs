/// Tests that need something this machine may lack (a GPU, MuJoCo, a C compiler, Python packages): asked when the
/// test runs, and reported as skipped, with the reason, where it is missing.
module Conditional

open Expecto

/// A test case that runs where `unavailable ()` is None and is skipped with the reason it gives otherwise.
let testCaseWhere (unavailable: unit -> string option) (name: string) (body: unit -> unit) =
    testCase name (fun () ->
        match unavailable () with
        | Some reason -> skiptest reason
        | None -> body ())
