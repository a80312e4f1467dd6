namespace Storage;

/// <summary>What a completed write survives.</summary>
/// <seealso href="../../docs/contract.md#durability"/>
public enum DurabilityMode
{
    /// <summary>
    /// The default. A write whose task has completed survives the process being killed and the
    /// machine losing power: data and directory entries are synced to stable storage first.
    /// </summary>
    Full = 0,

    /// <summary>
    /// A completed write survives the process being killed, but the last writes before a power
    /// loss or kernel crash may be lost (never half-applied): afterwards the store still opens and
    /// each partition reads at a state it once committed. Faster; never the default.
    /// </summary>
    Relaxed = 1,
}
