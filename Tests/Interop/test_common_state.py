"""megatron-core >= 0.19's common state inside the DCP: `import --common-state dcp` writes the
`common_state/shard_0_1` byte item (a torch.save of the one-element list [common state]) and no common.pt.
torch's own DCP loader reads the item back and `torch.load(weights_only=True)`, with only megatron-core's
SAFE_GLOBALS allowed, unpickles it to exactly the common state of the default import's common.pt; the item
has the same DCP metadata kind and place as in megatron-core 0.19.2's own save (Fixtures/megatron_core_019,
made by scripts/oracle/mcore019_common_state.py, where megatron-core 0.19.2's loader also read our output)."""
import io
import os

import torch
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint import FileSystemReader
from torch.distributed.checkpoint.metadata import BytesStorageMetadata

from conftest import cli, dcp_global_tensors, fixture, iteration_dir

KEY = "common_state/shard_0_1"


def safe_load(f):
    """torch.load as megatron-core loads common state: weights_only, megatron-core's SAFE_GLOBALS registered."""
    from megatron.core.safe_globals import register_safe_globals
    register_safe_globals()
    return torch.load(f, weights_only=True)


def common_state_item(d):
    """(the unpickled common_state item, its DCP metadata entry, the file holding it), read by torch's DCP."""
    from torch.distributed.checkpoint.default_planner import DefaultLoadPlanner

    class RawBytes(DefaultLoadPlanner):
        """torch's planner unpickles byte items with weights_only=False; keep the raw bytes to load them safely."""
        raw = {}

        def load_bytes(self, read_item, value):
            self.raw[read_item.dest_index.fqn] = value.read()

    reader = FileSystemReader(d)
    md = reader.read_metadata()
    planner = RawBytes()
    dcp.load({KEY: io.BytesIO()}, storage_reader=reader, planner=planner, no_dist=True)
    buf = io.BytesIO(planner.raw[KEY])
    files = {v.relative_path for k, v in md.storage_data.items() if k.fqn == KEY}
    return safe_load(buf), md.state_dict_metadata[KEY], files


def test_common_state_in_dcp_is_common_pt_as_megatron_core_019_writes_it(out):
    hf = fixture("qwen3_vl_dense_tiny/hf")
    cli("import", hf, out / "file", "--tp", "2")
    cli("import", hf, out / "dcp", "--tp", "2", "--common-state", "dcp")
    ours, upstream = iteration_dir(str(out / "dcp")), iteration_dir(fixture("megatron_core_019/dense_tiny_train"))
    assert not os.path.exists(os.path.join(ours, "common.pt"))
    item, entry, files = common_state_item(ours)
    want = safe_load(os.path.join(iteration_dir(str(out / "file")), "common.pt"))
    assert isinstance(item, list) and len(item) == 1
    got = item[0]
    assert sorted(got) == sorted(want)
    assert vars(got["args"]) == vars(want["args"])
    assert {k: v for k, v in got.items() if k != "args"} == {k: v for k, v in want.items() if k != "args"}
    # The same kind of item in the same place as megatron-core 0.19.2's save.
    up_item, up_entry, up_files = common_state_item(upstream)
    assert isinstance(entry, BytesStorageMetadata) and isinstance(up_entry, BytesStorageMetadata)
    assert files == up_files == {"__0_0.distcp"}
    assert isinstance(up_item, list) and len(up_item) == 1 and type(up_item[0]["args"]) is type(got["args"])
    assert set(up_item[0]) <= set(got)
    # metadata.json without common_backend fields, as 0.19.2 wrote it.
    import json
    assert json.load(open(os.path.join(ours, "metadata.json"))) == json.load(open(os.path.join(upstream, "metadata.json")))
    # And the tensors are the default import's.
    a, _ = dcp_global_tensors(str(out / "file"))
    b, _ = dcp_global_tensors(str(out / "dcp"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_megatron_core_019_training_save_exports_bit_exact(out):
    """megatron-core 0.19.2's save of the bf16 tiny model (args only in the common_state item) exports to the
    tensors it was saved from, as transformers saved them."""
    root = fixture("megatron_core_019/dense_tiny_train")
    hf = fixture("qwen3_vl_dense_tiny/hf_bf16")
    info = cli("inspect", root).stdout
    assert "common state: common_state/shard_0_1" in info and "num_layers=4" in info, info
    cli("export", root, out / "hf", "--hf-config", hf)
    from safetensors.torch import load_file
    want = load_file(os.path.join(hf, "model.safetensors"))
    got = {}
    for name in os.listdir(out / "hf"):
        if name.endswith(".safetensors"):
            got.update(load_file(os.path.join(out / "hf", name)))
    assert got.keys() == want.keys()
    for k, v in want.items():
        assert got[k].dtype == v.dtype and torch.equal(got[k], v), k
