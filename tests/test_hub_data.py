"""The paper configuration's data converters, fed local files in the real formats."""

import pytest
from alignment_tax.hub_data import hh_rlhf_to_prompts, sharegpt_to_records, split_hh_dialogue

HH_CHOSEN = (
    "\n\nHuman: What is a good name for a cat?\n\nAssistant: Whiskers is popular."
    "\n\nHuman: Another one?\n\nAssistant: How about Mittens?"
)


def test_split_hh_dialogue_keeps_the_whole_context():
    prompt, answer = split_hh_dialogue(HH_CHOSEN)
    assert prompt.endswith("\n\nAssistant:")
    assert "Whiskers is popular." in prompt
    assert answer == " How about Mittens?"


def test_split_hh_dialogue_rejects_other_text():
    with pytest.raises(ValueError, match="HH-RLHF"):
        split_hh_dialogue("Human: hi")


def test_sharegpt_records_keep_only_alternating_human_first():
    rows = [
        {
            "id": "a",
            "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}],
        },
        {"id": "b", "conversations": [{"from": "gpt", "value": "hi"}]},
        {
            "id": "c",
            "conversations": [{"from": "human", "value": "x"}, {"from": "human", "value": "y"}],
        },
        {"id": "d", "conversations": []},
    ]
    assert [r["id"] for r in sharegpt_to_records(rows)] == ["a"]
    assert len(sharegpt_to_records(rows * 3, max_rows=2)) == 2


def test_prompts_from_hh_pairs():
    prompts = hh_rlhf_to_prompts([{"chosen": HH_CHOSEN, "rejected": HH_CHOSEN}])
    assert prompts == [{"prompt": split_hh_dialogue(HH_CHOSEN)[0], "meta": {}}]
