/// Crc32: the IEEE check value and chaining across chunks.
module Crc32Tests

open System
open System.Text
open Xunit
open Expecto
open Sac.Core.Runs
open RunsKit

// ---------- CRC-32 ----------

let ``crc32 matches the IEEE check value and chains across chunks`` = testCase "crc32 matches the IEEE check value and chains across chunks" <| fun () ->
    let data = Encoding.ASCII.GetBytes "123456789"
    Assert.Equal(0xCBF43926u, Crc32.Compute(ReadOnlySpan data))
    Assert.Equal(0u, Crc32.Compute(ReadOnlySpan<byte>.Empty))
    for cut in 0 .. data.Length do
        Assert.Equal(0xCBF43926u, Crc32.Append(Crc32.Compute(ReadOnlySpan(data, 0, cut)), ReadOnlySpan(data, cut, data.Length - cut)))

let tests = testList "Crc32" [
    ``crc32 matches the IEEE check value and chains across chunks``
]
