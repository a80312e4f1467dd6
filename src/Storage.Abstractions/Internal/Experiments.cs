namespace Storage.Internal;

/// <summary>The diagnostic ids of the experimental API of Storage.</summary>
internal static class Experiments
{
    /// <summary>
    /// The backend interface (<c>Storage.Engine.IStoreBackend</c> and the types in its signatures) and
    /// the <c>Storage.Store</c> members a backend calls: public so that a backend can be written outside
    /// this repository, not settled yet, so it may change in any release. Suppress the diagnostic
    /// (<c>&lt;NoWarn&gt;STG001&lt;/NoWarn&gt;</c>) in a backend's project to use it.
    /// </summary>
    public const string BackendInterface = "STG001";
}
