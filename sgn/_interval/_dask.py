"""Run branch-and-bound batches on a Dask cluster.

    with dask_executor() as ex:                       # a local cluster (2 workers)
        interval_bounds(game, executor=ex)
    with dask_executor("tcp://scheduler:8786") as ex: # an existing scheduler
        ...

The result is a `concurrent.futures.Executor` (Dask's own ClientExecutor), so branch and bound
needs nothing Dask-specific; closing it closes the client and any cluster it started. Batches
are plain data (a compiled interval program and arrays), so workers need `sgn` importable
but never trace JAX.
"""

from __future__ import annotations

import concurrent.futures

from .._errors import SGNError

INSTALL_HINT = "pip install 'small-gain-nash[dask]'"


class DaskUnavailable(SGNError):
    """The Dask executor was asked for but dask.distributed is not installed."""


class DaskExecutor(concurrent.futures.Executor):
    """A Dask client's executor that also owns (and closes) the client and its cluster."""

    def __init__(self, client, cluster=None):
        self.client = client
        self.cluster = cluster
        self._executor = client.get_executor(pure=False)  # no hashing of task arguments

    def submit(self, fn, /, *args, **kwargs):
        return self._executor.submit(fn, *args, **kwargs)

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        return self._executor.map(fn, *iterables, timeout=timeout)

    def shutdown(self, wait=True, *, cancel_futures=False):
        self._executor.shutdown(wait=wait)
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def dask_executor(scheduler: str | None = None, *, n_workers: int = 2,
                  processes: bool = True) -> DaskExecutor:
    """An Executor on the Dask scheduler at `scheduler`, or on a new local cluster.

    Args:
        scheduler: address such as "tcp://host:8786"; None starts a LocalCluster.
        n_workers: workers of the local cluster (one thread each).
        processes: local workers as processes (True) or threads of this process (False,
            what the tests use).
    """
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise DaskUnavailable(
            f"the Dask executor needs dask.distributed: {INSTALL_HINT}") from None
    if scheduler is not None:
        return DaskExecutor(Client(scheduler))
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=processes,
                           dashboard_address=None)
    return DaskExecutor(Client(cluster), cluster)
