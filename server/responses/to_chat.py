"""A Responses API request as a chat completions request: the one place that knows both inputs.

:func:`chat_body` is pure. What it maps:

* ``input`` (a string, or a list of items as the SDKs send them back): messages; ``reasoning``
  items are dropped (old reasoning never reaches a new run); ``function_call`` items become an
  assistant message's ``tool_calls``, ``function_call_output`` items ``tool`` messages;
* ``instructions``: a leading system message; ``developer`` turns become ``system`` turns;
* ``text.format``: ``response_format``; ``text.verbosity``: ``verbosity``;
* ``max_output_tokens``: ``max_completion_tokens``; ``reasoning.effort``: ``reasoning_effort``;
* ``tools`` (function tools) and ``tool_choice``: their chat forms.

What it cannot map is a 400 in the OpenAI envelope naming the parameter (``param``), with
code ``unsupported_parameter`` or ``unsupported_value``: state kept between calls
(``previous_response_id``, ``conversation``, ``item_reference`` items, ``background``),
built-in tools, files by id, logprobs. Fields it does not know are passed on unchanged, as the
chat route passes them on.
"""

from __future__ import annotations

import json
from typing import Any

from server.errors import ProxyError
from server.responses.wire import ResponsesRequest

#: Responses fields with no chat counterpart: read here, never sent as they are.
_CONSUMED = frozenset(
    {
        "input",
        "instructions",
        "max_output_tokens",
        "text",
        "reasoning",
        "tools",
        "tool_choice",
        "previous_response_id",
        "conversation",
        "store",
        "background",
        "metadata",
        "include",
        "truncation",
        "stream_options",
        "prompt",
        "max_tool_calls",
        "top_logprobs",
        "n",
    }
)
#: ``include`` entries that ask for nothing this proxy would have to produce.
_HARMLESS_INCLUDES = frozenset({"reasoning.encrypted_content"})
_MESSAGE_ROLES = frozenset({"user", "assistant", "system", "developer"})


def unsupported(param: str, message: str, *, code: str = "unsupported_parameter") -> ProxyError:
    """The 400 for a parameter (or value) the proxy does not support; the message starts
    with the parameter's name."""
    if not message.startswith(param):
        message = f"{param}: {message}"
    return ProxyError(400, message, param=param, code=code)


def check_stateless(parsed: ResponsesRequest, body: dict[str, Any]) -> None:
    """Refuse what needs responses stored between calls (this proxy stores none)."""
    if parsed.previous_response_id is not None:
        raise unsupported(
            "previous_response_id",
            "previous_response_id is not supported: this proxy stores no responses; "
            "send the earlier output items back in input instead",
        )
    if parsed.conversation is not None:
        raise unsupported(
            "conversation",
            "conversation is not supported: this proxy stores no conversations; "
            "send the earlier items in input instead",
        )
    if parsed.background:
        raise unsupported(
            "background", "background responses are not supported: this proxy stores none"
        )
    if body.get("prompt") is not None:
        raise unsupported("prompt", "stored prompt templates are not supported")
    if body.get("max_tool_calls") is not None:
        raise unsupported("max_tool_calls", "max_tool_calls is not supported")
    if body.get("n") not in (None, 1):
        raise unsupported("n", "n is not supported: a response has one output")
    if body.get("top_logprobs") is not None:
        raise unsupported(
            "top_logprobs", "top_logprobs is not supported: no logprobs on /v1/responses"
        )
    for index, entry in enumerate(parsed.include or []):
        if entry not in _HARMLESS_INCLUDES:
            raise unsupported(
                f"include[{index}]", f"include {entry!r} is not supported", code="unsupported_value"
            )


def chat_body(parsed: ResponsesRequest, body: dict[str, Any]) -> dict[str, Any]:
    """The chat completions body for a Responses request (``stream`` left to the caller)."""
    check_stateless(parsed, body)
    chat: dict[str, Any] = {k: v for k, v in body.items() if k not in _CONSUMED}
    messages: list[dict[str, Any]] = []
    if parsed.instructions:
        messages.append({"role": "system", "content": parsed.instructions})
    messages.extend(input_messages(parsed.input))
    if not messages:
        raise unsupported("input", "input is required", code="missing_required_parameter")
    chat["messages"] = messages
    if parsed.max_output_tokens is not None:
        chat["max_completion_tokens"] = parsed.max_output_tokens
    chat.update(_text_options(parsed.text))
    effort = (parsed.reasoning or {}).get("effort")
    if effort is not None:
        if not isinstance(effort, str):
            raise unsupported("reasoning.effort", "must be a string", code="invalid_value")
        chat["reasoning_effort"] = effort
    if parsed.tools:
        chat["tools"] = [_tool(index, tool) for index, tool in enumerate(parsed.tools)]
    if parsed.tool_choice is not None:
        chat["tool_choice"] = _tool_choice(parsed.tool_choice)
    return chat


#: Chat parameters and the Responses parameters they came from, for errors the chat route
#: answers about a translated request.
_PARAM_ORIGINS = (
    ("reasoning_effort", "reasoning.effort"),
    ("max_completion_tokens", "max_output_tokens"),
    ("response_format", "text.format"),
    ("messages", "input"),
)


def responses_param(param: str | None) -> str | None:
    """The Responses name of a chat parameter named in an error (others unchanged)."""
    for chat_name, origin in _PARAM_ORIGINS:
        if param is not None and (
            param == chat_name or param.startswith((f"{chat_name}.", f"{chat_name}["))
        ):
            return origin
    return param


# -- input ------------------------------------------------------------------------------
def input_messages(items: Any) -> list[dict[str, Any]]:
    """Chat messages for a Responses ``input``."""
    if items is None:
        return []
    if isinstance(items, str):
        return [{"role": "user", "content": items}]
    if not isinstance(items, list):
        raise unsupported("input", "must be a string or a list of items", code="invalid_value")
    messages: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        param = f"input[{index}]"
        if not isinstance(item, dict):
            raise unsupported(param, "an input item must be an object", code="invalid_value")
        kind = item.get("type", "message")
        if kind == "message":
            messages.append(_message(param, item))
        elif kind == "reasoning":
            continue  # earlier reasoning is never part of a new prompt
        elif kind == "function_call":
            _append_tool_call(messages, param, item)
        elif kind == "function_call_output":
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": _required_str(item, "call_id", param),
                    "content": _output_text(item.get("output"), f"{param}.output"),
                }
            )
        elif kind == "item_reference":
            raise unsupported(
                f"{param}.type",
                "item_reference input items are not supported: this proxy stores no items; "
                "send the item itself",
                code="unsupported_value",
            )
        else:
            raise unsupported(
                f"{param}.type",
                f"input items of type {kind!r} are not supported",
                code="unsupported_value",
            )
    return messages


def _message(param: str, item: dict[str, Any]) -> dict[str, Any]:
    role = item.get("role")
    if not isinstance(role, str) or role not in _MESSAGE_ROLES:
        raise unsupported(
            f"{param}.role", f"message role {role!r} is not supported", code="invalid_value"
        )
    content = item.get("content")
    role = "system" if role == "developer" else role
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise unsupported(
            f"{param}.content",
            "message content must be a string or a list of parts",
            code="invalid_value",
        )
    parts = [_part(f"{param}.content[{i}]", part) for i, part in enumerate(content)]
    if role != "user" or all(part["type"] == "text" for part in parts):
        # Text only: one string, which every upstream takes for every role.
        return {"role": role, "content": "".join(part.get("text", "") for part in parts)}
    return {"role": role, "content": parts}


def _part(param: str, part: Any) -> dict[str, Any]:
    if not isinstance(part, dict):
        raise unsupported(param, "a content part must be an object", code="invalid_value")
    kind = part.get("type")
    if kind in ("input_text", "output_text", "text", "summary_text"):
        return {"type": "text", "text": _required_str(part, "text", param)}
    if kind == "refusal":
        return {"type": "text", "text": _required_str(part, "refusal", param)}
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str):
            raise unsupported(
                f"{param}.file_id",
                "images are supported by URL or data URL (image_url), not by file_id",
            )
        image: dict[str, Any] = {"url": url}
        if part.get("detail") is not None:
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file":
        if not isinstance(part.get("file_data"), str):
            raise unsupported(
                f"{param}.file_id", "files are supported inline (file_data), not by file_id or URL"
            )
        file: dict[str, Any] = {"file_data": part["file_data"]}
        if part.get("filename") is not None:
            file["filename"] = part["filename"]
        return {"type": "file", "file": file}
    if kind == "input_audio":
        audio = part.get("input_audio")
        if not isinstance(audio, dict):
            raise unsupported(f"{param}.input_audio", "input_audio must be an object")
        return {"type": "input_audio", "input_audio": audio}
    raise unsupported(
        f"{param}.type",
        f"content parts of type {kind!r} are not supported",
        code="unsupported_value",
    )


def _append_tool_call(messages: list[dict[str, Any]], param: str, item: dict[str, Any]) -> None:
    """Add a ``function_call`` item to the assistant turn it belongs to (the previous message
    when that is an assistant turn, so text and calls of one turn stay one message)."""
    arguments = item.get("arguments", "")
    call = {
        "id": _required_str(item, "call_id", param),
        "type": "function",
        "function": {
            "name": _required_str(item, "name", param),
            "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
        },
    }
    last = messages[-1] if messages else None
    if last is not None and last["role"] == "assistant":
        last.setdefault("tool_calls", []).append(call)
        return
    messages.append({"role": "assistant", "content": None, "tool_calls": [call]})


def _output_text(output: Any, param: str) -> str:
    """A tool's output as the text of a ``tool`` message."""
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        texts = []
        for index, part in enumerate(output):
            text = part.get("text") if isinstance(part, dict) else None
            if not isinstance(text, str):
                raise unsupported(
                    f"{param}[{index}]",
                    "function_call_output parts other than text are not supported",
                    code="unsupported_value",
                )
            texts.append(text)
        return "".join(texts)
    raise unsupported(
        param, "output must be a string or a list of text parts", code="invalid_value"
    )


def _required_str(item: dict[str, Any], key: str, param: str) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise unsupported(
            f"{param}.{key}", f"{param}.{key} is required", code="missing_required_parameter"
        )
    return value


# -- options ----------------------------------------------------------------------------
def _text_options(text: dict[str, Any] | None) -> dict[str, Any]:
    if not text:
        return {}
    options: dict[str, Any] = {}
    if text.get("verbosity") is not None:
        options["verbosity"] = text["verbosity"]
    fmt = text.get("format")
    if fmt is None:
        return options
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return options
    if kind == "json_object":
        options["response_format"] = {"type": "json_object"}
        return options
    if kind == "json_schema":
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        if not isinstance(schema.get("name"), str) or not isinstance(schema.get("schema"), dict):
            raise unsupported(
                "text.format",
                "a json_schema format needs a name and a schema",
                code="missing_required_parameter",
            )
        options["response_format"] = {"type": "json_schema", "json_schema": schema}
        return options
    raise unsupported(
        "text.format.type", f"text format {kind!r} is not supported", code="unsupported_value"
    )


def _tool(index: int, tool: dict[str, Any]) -> dict[str, Any]:
    kind = tool.get("type")
    if kind != "function":
        raise unsupported(
            f"tools[{index}].type",
            f"tools of type {kind!r} are not supported: only function tools "
            "(built-in tools such as web search run on OpenAI's servers)",
            code="unsupported_value",
        )
    function = {k: tool[k] for k in ("name", "description", "parameters", "strict") if k in tool}
    if not isinstance(function.get("name"), str):
        raise unsupported(
            f"tools[{index}].name",
            "a function tool needs a name",
            code="missing_required_parameter",
        )
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> str | dict[str, Any]:
    if isinstance(choice, str):
        if choice in ("auto", "none", "required"):
            return choice
        raise unsupported(
            "tool_choice", f"tool_choice {choice!r} is not supported", code="invalid_value"
        )
    if (
        isinstance(choice, dict)
        and choice.get("type") == "function"
        and isinstance(choice.get("name"), str)
    ):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise unsupported(
        "tool_choice",
        "tool_choice must be auto, none, required or a function ({type: function, name})",
        code="unsupported_value",
    )
