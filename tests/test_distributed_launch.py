"""Multi-GPU SLURM launch: the sbatch parameters and the per-node torchrun command (nothing is run)."""
from __future__ import annotations

import contextlib
import pickle
import subprocess
import sys
from types import SimpleNamespace

import submitit
from submitit.slurm import slurm

from harness.config import load_config, to_dict
from runners.slurm import executor
from runners.torchrun import TorchrunJob, is_multi_gpu, launch_parameters, rdzv_port, torchrun_command


def slurm_cfg(*overrides):
    return load_config(None, list(overrides)).slurm


def test_only_jobs_with_several_gpus_need_torchrun():
    assert not is_multi_gpu(slurm_cfg()) and not is_multi_gpu(slurm_cfg("slurm.gpus_per_node=1"))
    assert is_multi_gpu(slurm_cfg("slurm.gpus_per_node=8")) and is_multi_gpu(slurm_cfg("slurm.nodes=2"))


def test_sbatch_script_has_one_task_per_node_with_all_its_gpus(tmp_path):
    s = slurm_cfg("slurm.nodes=2", "slurm.gpus_per_node=4", "slurm.cpus_per_task=32", "slurm.partition=gpu")
    ex = executor(tmp_path, s, "sweep")
    ex.update_parameters(**launch_parameters(s))
    script = slurm._make_sbatch_string(command="python -m submitit.core._submit", folder=tmp_path,
                                       **ex._executor.parameters)
    for line in ["--nodes=2", "--ntasks-per-node=1", "--gpus-per-node=4", "--cpus-per-task=32", "--partition=gpu",
                 "--signal=USR2@120"]:
        assert f"#SBATCH {line}\n" in script, line
    assert "\nsrun " in script  # submitit starts the task on every node with srun


def test_torchrun_command_rendezvous_on_the_first_node(tmp_path):
    cmd = torchrun_command(tmp_path / "c.yaml", "Continuous 25%", nodes=2, gpus_per_node=4, head="gpu-01",
                           job_id="4242")
    assert cmd[:3] == [sys.executable, "-m", "torch.distributed.run"]
    for arg in ["--nnodes=2", "--nproc-per-node=4", "--rdzv-backend=c10d", "--rdzv-endpoint=gpu-01:29500",
                "--rdzv-id=4242"]:
        assert arg in cmd
    assert cmd[cmd.index("-m", 3):] == ["-m", "harness.cli", "run", str(tmp_path / "c.yaml"), "--label",
                                        "Continuous 25%"]
    # the command line torchrun itself accepts (argument names and values)
    from torch.distributed.run import get_args_parser

    args = get_args_parser().parse_args(cmd[3:])
    assert (args.nnodes, args.nproc_per_node, args.rdzv_endpoint, args.module) == ("2", "4", "gpu-01:29500", True)


def test_torchrun_job_writes_the_config_and_launches_on_each_node(tmp_path, monkeypatch):
    cfg = load_config(None, ["slurm.nodes=2", "slurm.gpus_per_node=4", f"results_dir={tmp_path}"])
    job = TorchrunJob(to_dict(cfg), "my run", str(tmp_path / "run"))
    assert isinstance(job, submitit.helpers.Checkpointable)
    job = pickle.loads(pickle.dumps(job))  # what submitit does to ship it
    env = SimpleNamespace(node=1, num_nodes=2, hostnames=["gpu-01", "gpu-02"], job_id="77")
    monkeypatch.setattr(submitit, "JobEnvironment", lambda: env)
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, check: calls.append(cmd))
    assert job() == str(tmp_path / "run")
    (cmd,) = calls
    written = tmp_path / "run" / "launch" / "config-node1.yaml"
    assert load_config(written) == cfg  # the resolved config round-trips
    assert f"--rdzv-endpoint=gpu-01:{rdzv_port('77')}" in cmd and "--nproc-per-node=4" in cmd and str(written) in cmd
    # array jobs sharing a node rendezvous on different ports
    assert len({rdzv_port(f"100_{i}") for i in range(8)}) == 8 and 29500 <= rdzv_port("100_0") < 31500


class FakeExecutor:
    """Records what run_slurm asks of submitit (no cluster needed)."""

    def __init__(self, name: str, s, submitted: list):
        self.name, self.submitted = name, submitted
        self.parameters = {"nodes": s.nodes, "gpus_per_node": s.gpus_per_node}

    def update_parameters(self, **kw):
        self.parameters.update(kw)

    def batch(self):
        return contextlib.nullcontext()

    def submit(self, job):
        self.submitted.append((self.name, dict(self.parameters), job))
        return SimpleNamespace(job_id=str(len(self.submitted)))


def test_slurm_runner_submits_multi_gpu_runs_as_torchrun_jobs(tmp_path, monkeypatch):
    from harness.app.grid import RunSpec
    from harness.loop.rundir import run_path
    from runners import slurm as slurm_runner

    submitted = []
    monkeypatch.setattr(slurm_runner, "executor",
                        lambda folder, s, name, dependency=None: FakeExecutor(name, s, submitted))

    def submit(*overrides):
        submitted.clear()
        cfg = load_config(None, [f"results_dir={tmp_path}", "executor=slurm", *overrides])
        spec = RunSpec("r", 0, 0, {}, cfg, run_path(cfg, "r"))
        slurm_runner.run_slurm(SimpleNamespace(name="sw", folder=tmp_path / "sw", runs=[spec]))
        return {name: (params, job) for name, params, job in submitted}, spec

    jobs, _ = submit("slurm.gpus_per_node=1")
    assert isinstance(jobs["sw"][1], slurm_runner.RunJob)
    jobs, spec = submit("slurm.nodes=2", "slurm.gpus_per_node=4", "seed=1")
    (stage_params, _), (params, job) = jobs["sw-stages"], jobs["sw"]
    assert (stage_params["nodes"], stage_params["gpus_per_node"]) == (1, 1)  # the stages: one process
    assert params["nodes"] == 2 and params["gpus_per_node"] == 4 and params["tasks_per_node"] == 1
    assert isinstance(job, TorchrunJob) and job.label == "r" and job.run_dir == str(spec.path)
    assert job.config["slurm"]["gpus_per_node"] == 4 and job.config["seed"] == 1
