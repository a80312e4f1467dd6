using Npgsql;

namespace Storage.Postgres.Internal;

/// <summary>
/// A multi-host data source found no host in the role the store needs (a primary for writes): the
/// primary is down and no standby has been promoted yet, or the data source still remembers the
/// promoted one as a standby (for <c>Host Recheck Seconds</c>). A failover ends that, so it is transient.
/// </summary>
internal sealed class NoSuitableHostException(NpgsqlException inner)
    : NpgsqlException("No host of the multi-host connection string could serve the store's connection.", inner)
{
    public override bool IsTransient => true;
}
