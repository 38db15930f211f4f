import pytest

from nbprod.notebook.tags import GRAMMAR, Requirement, Tag, TagProblem, comment_tags, parse_tag


@pytest.mark.parametrize(
    "raw,kind,value",
    [
        ("parameters", "parameters", None),
        ("step:train", "step", "train"),
        ("after:load", "after", "load"),
        ("imports", "imports", None),
        ("functions", "functions", None),
        ("skip", "skip", None),
        ("gate:train_df", "gate", "train_df"),
        ("model:clf", "model", "clf"),
        ("metrics", "metrics", None),
        ("require:accuracy>=0.9", "require", "accuracy>=0.9"),
        ("serve", "serve", None),
        ("card:intended-use", "card", "intended-use"),
        ("card:caveats-and-recommendations", "card", "caveats"),
        # Kale's dialect
        ("block:load_data", "step", "load_data"),
        ("prev:load_data", "after", "load_data"),
        ("pipeline-parameters", "parameters", None),
        ("pipeline-metrics", "metrics", None),
    ],
)
def test_grammar_tags_parse(raw, kind, value):
    tag = parse_tag(raw)
    assert isinstance(tag, Tag)
    assert (tag.kind, tag.value) == (kind, value)


def test_grammar_is_the_closed_table_of_the_product_contract():
    assert set(GRAMMAR) == {
        "parameters",
        "step",
        "after",
        "imports",
        "functions",
        "skip",
        "gate",
        "model",
        "metrics",
        "require",
        "serve",
        "card",
    }


@pytest.mark.parametrize(
    "raw", ["hide-input", "remove-cell", "injected-parameters", "thebe-init", "my-own-tag", "foo:bar"]
)
def test_other_tools_tags_are_ignored(raw):
    assert parse_tag(raw) is None


@pytest.mark.parametrize("raw", ["limit:nvidia.com/gpu:1", "annotation:foo:bar", "image:python:3.11", "label:team:ml"])
def test_kale_cluster_tags_are_kept(raw):
    tag = parse_tag(raw)
    assert isinstance(tag, Tag) and tag.kind == "kale-cluster" and tag.value == raw


@pytest.mark.parametrize(
    "raw,suggestion",
    [
        ("stpe:train", "did you mean 'step:train'?"),
        ("gate-df", "did you mean 'gate:df'?"),
        ("paramters", "did you mean 'parameters'?"),
        ("metric", "did you mean 'metrics'?"),
        ("requre:acc>=1", "did you mean 'require:acc>=1'?"),
        ("card:limitation", "did you mean 'card:limitations'?"),
    ],
)
def test_misspelled_tags_get_a_did_you_mean(raw, suggestion):
    problem = parse_tag(raw)
    assert isinstance(problem, TagProblem)
    assert suggestion in problem.fix


@pytest.mark.parametrize(
    "raw,message",
    [
        ("step:", "empty value"),
        ("step:../etc", "path separator"),
        ("step:a/b", "path separator"),
        ("step:load data", "not a Python identifier"),
        ("step:1st", "not a Python identifier"),
        ("step:class", "Python keyword"),
        ("gate:df;rm -rf", "not a Python identifier"),
        ("model:'x'", "not a Python identifier"),
        ("require:accuracy=>0.9", "threshold does not parse"),
        ("require:accuracy>=high", "threshold does not parse"),
        ("require:accuracy==0.9", "threshold does not parse"),
        ("skip:yes", "takes no value"),
        ("step", "needs a value"),
    ],
)
def test_bad_values_are_errors(raw, message):
    problem = parse_tag(raw)
    assert isinstance(problem, TagProblem)
    assert message in problem.message


@pytest.mark.parametrize(
    "op,value,holds",
    [(">=", 0.9, True), (">=", 0.89, False), (">", 0.9, False), ("<=", 0.9, True), ("<", 0.9, False), ("<", 0.1, True)],
)
def test_requirement_holds(op, value, holds):
    tag = parse_tag(f"require:acc{op}0.9")
    assert isinstance(tag.requirement, Requirement)
    assert tag.requirement.holds(value) is holds


def test_requirement_parses_scientific_and_negative_numbers():
    assert parse_tag("require:loss<=1e-3").requirement == Requirement("loss", "<=", 0.001)
    assert parse_tag("require:delta>-2.5").requirement == Requirement("delta", ">", -2.5)


def test_comment_tags_code_and_markdown():
    assert comment_tags("# nbprod: step:train gate:df\nx = 1", "code") == ["step:train", "gate:df"]
    assert comment_tags("\n#nbprod:skip\n", "code") == ["skip"]
    assert comment_tags("x = 1  # nbprod: step:train", "code") == []
    assert comment_tags("<!-- nbprod: card:owners -->\nThe ML team", "markdown") == ["card:owners"]
    assert comment_tags("# nbprod: step:x", "markdown") == []


def test_the_composition_rules_are_in_the_grammar():
    from nbprod.notebook.tags import conflict

    for name, spec in GRAMMAR.items():
        assert spec.excludes <= set(GRAMMAR) | {"*"}, name
        assert bool(spec.excludes) == bool(spec.why), name
    assert conflict("step", "serve") is None and conflict("step", "functions") is None
    assert conflict("skip", "serve") == GRAMMAR["skip"].why
    assert conflict("step", "parameters") == GRAMMAR["parameters"].why
    assert conflict("imports", "gate") == conflict("gate", "imports") == GRAMMAR["imports"].why
    assert conflict("step", "kale-cluster") is None  # not ours: never a conflict
