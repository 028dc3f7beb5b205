"""STAND-IN torch.distributed: the calls the xDiT adapter makes, across processes.

all_gather_object is a file rendezvous: rank r writes
"<group>.<seq>.<r>.pkl" (atomically) into $STANDIN_TORCH_STORE and waits until
every rank of the group has written the same <seq>. Like the real collective, a
rank that does not call it leaves the others waiting -- here until
$STANDIN_TORCH_TIMEOUT, then RuntimeError.
"""

import os
import pickle
import time

_state = {"initialized": False, "rank": 0, "world_size": 1, "backend": None, "groups": 0}


class ProcessGroup:
    def __init__(self, gid: int, backend, ranks) -> None:
        self.gid = gid
        self.backend = backend
        self.ranks = list(ranks)
        self.seq = 0
        self.destroyed = False


_WORLD = None


def is_available() -> bool:
    return True


def is_initialized() -> bool:
    return _state["initialized"]


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1, **kwargs) -> None:
    global _WORLD
    if _state["initialized"]:
        raise RuntimeError("trying to initialize the default process group twice!")
    _state["rank"] = int(os.environ["RANK"]) if rank == -1 else rank
    _state["world_size"] = int(os.environ["WORLD_SIZE"]) if world_size == -1 else world_size
    _state["backend"] = backend
    _state["initialized"] = True
    _WORLD = ProcessGroup(0, backend, range(_state["world_size"]))


def _check() -> None:
    if not _state["initialized"]:
        raise RuntimeError("Default process group has not been initialized")


def get_rank(group=None) -> int:
    _check()
    return _state["rank"]


def get_world_size(group=None) -> int:
    _check()
    return _state["world_size"]


def get_backend(group=None):
    _check()
    return (group or _WORLD).backend


def new_group(ranks=None, timeout=None, backend=None, pg_options=None, **kwargs) -> ProcessGroup:
    _check()
    _state["groups"] += 1
    return ProcessGroup(_state["groups"], backend, ranks if ranks is not None else range(_state["world_size"]))


def _store() -> str:
    path = os.environ.get("STANDIN_TORCH_STORE")
    if not path:
        raise RuntimeError("stand-in torch.distributed: STANDIN_TORCH_STORE is not set")
    os.makedirs(path, exist_ok=True)
    return path


def all_gather_object(object_list, obj, group=None) -> None:
    _check()
    group = group or _WORLD
    if group.destroyed:
        raise RuntimeError("stand-in torch.distributed: collective on a destroyed group")
    n = len(group.ranks)
    if len(object_list) != n:
        raise ValueError(f"object_list has {len(object_list)} slots, the group has {n} ranks")
    seq = group.seq
    group.seq += 1
    if n == 1:
        object_list[0] = obj
        return
    store = _store()
    me = _state["rank"]
    final = os.path.join(store, f"{group.gid}.{seq}.{me}.pkl")
    tmp = final + ".tmp"
    with open(tmp, "wb") as f:
        pickle.dump(obj, f)
    os.replace(tmp, final)
    deadline = time.monotonic() + float(os.environ.get("STANDIN_TORCH_TIMEOUT", "20"))
    for i, r in enumerate(group.ranks):
        path = os.path.join(store, f"{group.gid}.{seq}.{r}.pkl")
        while not os.path.exists(path):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"stand-in torch.distributed: rank {me} timed out in all_gather_object "
                    f"#{seq} of group {group.gid} waiting for rank {r}"
                )
            time.sleep(0.005)
        with open(path, "rb") as f:
            object_list[i] = pickle.load(f)


def barrier(group=None) -> None:
    all_gather_object([None] * len((group or _WORLD).ranks), None, group=group)


def destroy_process_group(group=None) -> None:
    global _WORLD
    if group is None or group is _WORLD:
        _state["initialized"] = False
        _WORLD = None
    else:
        group.destroyed = True
