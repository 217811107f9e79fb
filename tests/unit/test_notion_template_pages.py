"""A call.analyzed event with a call template writes the template and its fields onto the
call's Notion page; one without writes neither."""

from __future__ import annotations

from engine.notion_pages import page_writes

URL = "https://voice.example.com/console/#/calls/{call_sid}"


def test_the_template_and_its_fields_go_on_the_call_page() -> None:
    data = {
        "call_sid": "CA1",
        "summary": "A claim.",
        "template": {
            "key": "claim_intake",
            "name": "Claim intake (first notice of loss)",
            "fields": {"date_of_loss": "yesterday", "injuries": False, "vehicle": None},
        },
    }
    (page,) = page_writes("call.analyzed", data, URL)
    props = page.properties
    assert props["Template"] == {"select": {"name": "Claim intake (first notice of loss)"}}
    text = props["Intake"]["rich_text"][0]["text"]["content"]
    assert text == "Date of loss: yesterday\nInjuries: no"


def test_a_call_no_template_fit_has_no_template_properties() -> None:
    (page,) = page_writes("call.analyzed", {"call_sid": "CA1", "template": None}, URL)
    assert "Template" not in page.properties
    assert "Intake" not in page.properties
