using System.Reflection;
using System.Reflection.Emit;

namespace Storage.Sqlite.Tests;

/// <summary>
/// Issue 16: the batch decision is written once, in the engine's <see cref="PartitionWriter"/>, and
/// every backend persists what it decides. Behaviour cannot tell a faithful copy of the rules from the
/// engine's, so this reads the compiled SQLite backend: it must call the writer for batches and
/// increments, and must not check a condition, plan an append, add to a sequence or raise a version
/// conflict itself. A copy of the rules that comes back fails here.
/// </summary>
public sealed class WritePathTests
{
    private const BindingFlags Declared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    private static readonly Dictionary<short, OpCode> s_opCodes = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    [Fact]
    public void Batches_and_increments_are_decided_by_the_engines_PartitionWriter()
    {
        var called = CalledMethods(typeof(SqliteStore).Assembly);

        Assert.Contains(called, m => m.DeclaringType == typeof(PartitionWriter) && m.Name == nameof(PartitionWriter.ApplyBatch));
        Assert.Contains(called, m => m.DeclaringType == typeof(PartitionWriter) && m.Name == nameof(PartitionWriter.Increment));
        Assert.DoesNotContain(called, m => m.DeclaringType == typeof(WriteCondition) && m.Name == nameof(WriteCondition.IsSatisfiedBy));
        Assert.DoesNotContain(called, m => m.DeclaringType == typeof(AppendPlan));
        Assert.DoesNotContain(called, m => m.DeclaringType == typeof(Batches) && m.Name == nameof(Batches.AddToSequence));
        Assert.DoesNotContain(called, m => m is ConstructorInfo && m.DeclaringType == typeof(VersionConflictException));
    }

    /// <summary>Every method and constructor the assembly's code calls, creates with, or takes a delegate to (read from each method body's IL).</summary>
    private static HashSet<MethodBase> CalledMethods(Assembly assembly)
    {
        var called = new HashSet<MethodBase>();
        foreach (var type in assembly.GetTypes())
        {
            foreach (var method in type.GetMethods(Declared).Cast<MethodBase>().Concat(type.GetConstructors(Declared)))
            {
                if (method.GetMethodBody()?.GetILAsByteArray() is not { } il)
                {
                    continue;
                }

                var typeArguments = type.IsGenericType ? type.GetGenericArguments() : null;
                var methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
                for (var i = 0; i < il.Length;)
                {
                    var code = il[i] == 0xFE ? s_opCodes[unchecked((short)(0xFE00 | il[i + 1]))] : s_opCodes[il[i]];
                    i += code.Size;
                    if (code.OperandType == OperandType.InlineMethod)
                    {
                        called.Add(method.Module.ResolveMethod(BitConverter.ToInt32(il, i), typeArguments, methodArguments)!);
                    }

                    i += code.OperandType switch
                    {
                        OperandType.InlineNone => 0,
                        OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                        OperandType.InlineVar => 2,
                        OperandType.InlineI8 or OperandType.InlineR => 8,
                        OperandType.InlineSwitch => 4 + (4 * BitConverter.ToInt32(il, i)),
                        _ => 4,
                    };
                }
            }
        }

        return called;
    }
}
