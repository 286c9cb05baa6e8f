

def test_a_copy_with_another_data_dir_resolves_its_own(tmp_path):
    from core.settings import Settings

    original = Settings(data_dir=tmp_path / "a", _env_file=None)
    assert original.resolved_data_dir == (tmp_path / "a").resolve()
    copy = original.model_copy(update={"data_dir": tmp_path / "b"})
    assert copy.resolved_data_dir == (tmp_path / "b").resolve() and original.resolved_data_dir == (tmp_path / "a").resolve()
