"""Text routines: TextClipper, TextRenderer and ResultExtractor."""

from __future__ import annotations

from typing import Any

from routilux.builtin_routines._extraction_run import run_extraction
from routilux.builtin_routines._extractors import BUILTIN_EXTRACTORS, YAML_AVAILABLE, Extraction, Extractor
from routilux.builtin_routines._rendering import clip_text, render_markdown, render_xml
from routilux.routine import Routine

__all__ = ["TextClipper", "TextRenderer", "ResultExtractor", "Extraction", "YAML_AVAILABLE"]


class TextClipper(Routine):
    """Clip text to ``max_length`` characters line by line, never clipping tracebacks.

    Slot ``input`` takes ``text`` (anything else is turned into a string) and
    an optional per-call ``max_length``; event ``output`` carries
    ``clipped_text``, ``was_clipped`` and ``original_length``. Config:
    ``max_length`` (1000), ``preserve_tracebacks`` (True: text containing
    "Traceback" passes whole) and ``truncation_message`` (formatted with
    ``remaining``, the number of dropped lines).
    """

    def __init__(self) -> None:
        """Define the ``input`` slot, the ``output`` event and the default config."""
        super().__init__()
        self.input_slot = self.define_slot("input", handler=self._handle_input, merge_strategy="override")
        self.output_event = self.define_event("output", ["clipped_text", "was_clipped", "original_length"])
        self.set_config(max_length=1000, preserve_tracebacks=True, truncation_message="...(省略了{remaining}行)")

    def _handle_input(self, text: Any = None, max_length: int | None = None, **kwargs: Any) -> None:
        """Clip the received text and emit ``output``."""
        if text is None:
            text = self._extract_input_data(None, **kwargs) if kwargs else ""
        text = text if isinstance(text, str) else str(text)
        limit = int(max_length if max_length is not None else self.get_config("max_length", 1000))
        clipped, was_clipped = clip_text(
            text,
            limit,
            bool(self.get_config("preserve_tracebacks", True)),
            str(self.get_config("truncation_message", "...(省略了{remaining}行)")),
        )
        self.emit("output", clipped_text=clipped, was_clipped=was_clipped, original_length=len(text))


class TextRenderer(Routine):
    """Render dicts, lists and nested structures as XML-like tags or markdown text.

    Slot ``input`` takes ``data``; event ``output`` carries ``rendered_text``
    and ``original_type`` (the type name of the data). Config: ``tag_format``
    ("xml" or "markdown"), ``indent`` ("  ") and ``include_type_hints``
    (False: add the type name of each value). Sequences render as ``<item_0>``, ``<item_1>``...
    tags or ``- `` bullets; a circular reference renders as
    ``[circular reference]``. Values are not XML-escaped: the output is
    meant to be read (for example by a language model), not parsed.
    """

    def __init__(self) -> None:
        """Define the ``input`` slot, the ``output`` event and the default config."""
        super().__init__()
        self.input_slot = self.define_slot("input", handler=self._handle_input, merge_strategy="override")
        self.output_event = self.define_event("output", ["rendered_text", "original_type"])
        self.set_config(tag_format="xml", indent="  ", include_type_hints=False)

    def _handle_input(self, data: Any = None, **kwargs: Any) -> None:
        """Render the received data and emit ``output``."""
        data = self._extract_input_data(data, **kwargs)
        fmt = self.get_config("tag_format", "xml")
        if fmt not in ("xml", "markdown"):
            raise ValueError(f"TextRenderer tag_format must be 'xml' or 'markdown', not {fmt!r}")
        render = render_xml if fmt == "xml" else render_markdown
        text = render(data, str(self.get_config("indent", "  ")), bool(self.get_config("include_type_hints", False)))
        self.emit("output", rendered_text=text, original_type=type(data).__name__)


class ResultExtractor(Routine):
    """Extract a usable result (JSON, code, interpreter output, ...) from raw output.

    Slot ``input`` takes ``data``; event ``output`` carries
    ``extracted_result``, ``format``, ``metadata`` (extractor name, strategy,
    attempted extractors, errors, extractor details), ``confidence`` (0.0-1.0)
    and ``extraction_path`` (names of the extractors whose result is used).

    Strategies (config ``strategy``): "auto" runs every extractor and keeps
    the most confident finding; "first_match" stops at the first finding;
    "priority" is first_match with the names in ``extractor_priority`` tried
    first; "all" returns every finding as a list of
    ``{"extractor", "format", "result", "confidence"}`` with format "multiple".

    Built-in extractors, in default order: json_string (the whole string is
    a JSON object/array), json_code_block, interpreter_output (```output
    blocks or a list of message dicts with ``content``), yaml_code_block,
    xml_code_block, structured (dict/list input, JSON strings inside parsed
    when ``detect_nested_structures``), code_block, embedded_json (JSON inside
    prose, also under ``detect_nested_structures``) and yaml_string. The YAML
    extractors need PyYAML and stay silent without it. When nothing matches,
    the original data is returned with confidence 0.0 (or None when
    ``return_original_on_failure`` is off).

    Extractors added with :meth:`register_extractor` live on the instance,
    not in the config, so they are not serialized: register them again after
    deserializing.
    """

    def __init__(self) -> None:
        """Define the ``input`` slot, the ``output`` event and the default config."""
        super().__init__()
        self.input_slot = self.define_slot("input", handler=self._handle_input, merge_strategy="override")
        self.output_event = self.define_event(
            "output", ["extracted_result", "format", "metadata", "confidence", "extraction_path"]
        )
        self._extractors: dict[str, Extractor] = {}
        self.set_config(
            strategy="auto",
            extractor_priority=[],
            extract_json_blocks=True,
            extract_code_blocks=True,
            extract_yaml_blocks=False,
            extract_xml_blocks=False,
            code_block_languages=["json", "python", "output", "yaml", "xml"],
            format_interpreter_output=True,
            parse_json_strings=True,
            parse_yaml_strings=False,
            detect_nested_structures=True,
            continue_on_error=True,
            return_original_on_failure=True,
            log_errors=True,
        )

    def register_extractor(self, name: str, extractor: Extractor) -> None:
        """Add an extractor ``fn(data, config)`` returning None, an Extraction or a tuple.

        The tuple form is ``(result, format[, confidence[, metadata]])``.
        Registered extractors are tried before the built-ins; a name equal
        to a built-in's replaces it.
        """
        if not callable(extractor):
            raise TypeError(f"extractor {name!r} must be callable")
        self._extractors[name] = extractor

    @staticmethod
    def builtin_extractor_names() -> list[str]:
        """Return the names of the built-in extractors in their default order."""
        return list(BUILTIN_EXTRACTORS)

    def _handle_input(self, data: Any = None, **kwargs: Any) -> None:
        """Extract from the received data and emit ``output``."""
        data = self._extract_input_data(data, **kwargs)
        self.emit("output", **run_extraction(data, self.config(), dict(self._extractors)))
