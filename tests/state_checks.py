"""One bitwise comparison of checkpoint states for the resume tests."""
import torch


def assert_same(a, b, what: str = "state") -> None:
    """a and b hold equal tensors and values, recursively through dicts, lists and tuples."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), f"{what}: keys differ"
        for k in a:
            assert_same(a[k], b[k], f"{what}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{what}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{what}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), f"{what} differs"
    else:
        assert a == b, f"{what}: {a!r} != {b!r}"
