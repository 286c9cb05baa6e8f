

def test_a_copy_with_another_data_dir_resolves_its_own(tmp_path):
    from core.settings import Settings

    original = Settings(data_dir=tmp_path / "a", _env_file=None)
    assert original.resolved_data_dir == (tmp_path / "a").resolve()
    copy = original.model_copy(update={"data_dir": tmp_path / "b"})
    assert copy.resolved_data_dir == (tmp_path / "b").resolve() and original.resolved_data_dir == (tmp_path / "a").resolve()


def test_eval_settings_keep_evals_apart(tmp_path):
    from core.settings import Settings
    from eval.runs import EVAL_TENANT, eval_settings

    served = Settings(data_dir=tmp_path / "data", tenant="acme", _env_file=None)
    evaluated = eval_settings(served, tmp_path / "datasets" / "chunking")
    assert evaluated.tenant == EVAL_TENANT != served.tenant
    assert evaluated.resolved_data_dir == (tmp_path / "data" / "eval" / "chunking").resolve()
