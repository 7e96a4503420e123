# Per-group job sizing from config["resources"]. GPU rules use the train, generate, evaluate
# and hma groups; data, recipe, table and figure rules use cpu and request no GPU.
# Memory and runtime grow with the retry attempt.


def _group(name):
    return config["resources"]["groups"][name]


def job_gpus(name):
    return _group(name)["gpus"]


def job_threads(name):
    return _group(name).get("cpus", 1)


def job_mem_mb(name):
    base = _group(name)["mem_mb"]
    return lambda wildcards, attempt: base * attempt


def job_runtime(name):
    base = _group(name)["runtime"]
    return lambda wildcards, attempt: base * attempt
