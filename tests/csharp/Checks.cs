// The C# tests' checks: each failure is printed, and Result() prints the counts and gives the
// program's exit status.
using System;

static class Checks
{
    static int passed, failed;

    public static void Check(bool ok, string what)
    {
        if (ok) passed++; else { failed++; Console.Error.WriteLine("FAILED: " + what); }
    }

    public static int Result()
    {
        Console.WriteLine(passed + " passed, " + failed + " failed");
        return failed == 0 ? 0 : 1;
    }
}
