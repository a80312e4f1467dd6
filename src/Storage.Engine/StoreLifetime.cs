namespace Storage.Engine;

/// <summary>
/// Tracks a store's running operations so that disposing it waits for them, and refuses new ones
/// once disposal has begun (<see cref="ObjectDisposedException"/>).
/// </summary>
internal sealed class StoreLifetime
{
    // The contract's name, not the backend's class: the same operation fails with the same message on every backend.
    private const string ObjectName = nameof(IStore);

    private readonly Lock _lock = new();
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _running;
    private bool _disposed;

    /// <summary>Marks an operation as running until the returned scope is disposed.</summary>
    /// <returns>The scope.</returns>
    /// <exception cref="ObjectDisposedException">The store is disposed or being disposed.</exception>
    public Scope Enter()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                throw new ObjectDisposedException(ObjectName, ErrorMessages.Disposed);
            }

            _running++;
        }

        return new Scope(this);
    }

    /// <summary>Starts disposal: no operation may start from now on.</summary>
    /// <param name="drained">Completes when every running operation has ended.</param>
    /// <returns><see langword="false"/> when disposal had already begun (the caller has nothing to do).</returns>
    public bool TryBeginDispose(out Task drained)
    {
        lock (_lock)
        {
            drained = _drained.Task;
            if (_disposed)
            {
                return false;
            }

            _disposed = true;
            if (_running == 0)
            {
                _drained.SetResult();
            }

            return true;
        }
    }

    private void Exit()
    {
        lock (_lock)
        {
            if (--_running == 0 && _disposed)
            {
                _drained.TrySetResult();
            }
        }
    }

    /// <summary>One running operation.</summary>
    public readonly struct Scope : IDisposable
    {
        private readonly StoreLifetime _owner;

        internal Scope(StoreLifetime owner) => _owner = owner;

        /// <summary>Ends the operation.</summary>
        public void Dispose() => _owner.Exit();
    }
}
