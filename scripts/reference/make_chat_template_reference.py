"""Reference chat-template renderings from transformers, for incant's parity test.

transformers' `render_jinja_template` is what `tokenizer.apply_chat_template` runs (jinja2
sandbox, trim_blocks, lstrip_blocks, loopcontrols, tojson, raise_exception). Templates: the
one inside the SmolLM2 GGUF, plain ChatML (incant's fallback) and three more in the shapes
common on model hubs (Llama-3, Mistral with role checks, one that uses Python string
methods and namespace()).

    python scripts/reference/make_chat_template_reference.py models/SmolLM2-135M-Instruct.Q4_1.gguf
Writes crates/incant-engine/tests/reference/chat_templates.json.
"""
import json
import os
import sys

from gguf import GGUFReader
from transformers.utils.chat_template_utils import render_jinja_template

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "..", "..", "crates", "incant-engine", "tests", "reference", "chat_templates.json")

smollm = GGUFReader(sys.argv[1]).fields["tokenizer.chat_template"].contents()
CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
LLAMA3 = (
    "{{ bos_token }}{% for message in messages %}{% set content = '<|start_header_id|>' + message['role'] + "
    "'<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
MISTRAL = """{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content'] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}
{{- bos_token }}
{%- for message in loop_messages %}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
        {{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}
    {%- endif %}
    {%- if message['role'] == 'user' %}
        {%- if loop.first and system_message is defined %}
            {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}
        {%- else %}
            {{- ' [INST] ' + message['content'] + ' [/INST]' }}
        {%- endif %}
    {%- elif message['role'] == 'assistant' %}
        {{- ' ' + message['content'] + eos_token }}
    {%- endif %}
{%- endfor %}
"""
PYMETHODS = """{% set ns = namespace(sys='', turns=0) %}
{% for m in messages %}
  {% if m.role == 'system' %}{% set ns.sys = m.content.strip() %}{% else %}{% set ns.turns = ns.turns + 1 %}{% endif %}
{% endfor %}
{% if ns.sys %}<<SYS>>{{ ns.sys | upper }}<</SYS>> turns={{ ns.turns }}
{% endif %}
{% for m in messages if m.role != 'system' %}
{{ m.role.capitalize() }}: {{ m.content.strip() }}{% if m.content.strip().endswith('?') %} (question){% endif %}
{% if loop.last and add_generation_prompt %}Assistant:{% endif %}
{% endfor %}
{{ {'n': messages | length, 'last': messages[-1].role} | tojson }}"""

CONVERSATIONS = [
    [{"role": "user", "content": "Hello!"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is 2+2?"}],
    [
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "Blue."},
        {"role": "user", "content": "Another one?"},
    ],
    [
        {"role": "system", "content": "  Answer in French.  "},
        {"role": "user", "content": "Good morning"},
        {"role": "assistant", "content": "Bonjour"},
        {"role": "user", "content": "Good night"},
    ],
    [{"role": "user", "content": "你好，请用中文回答：天空为什么是蓝色的？"}],
    [{"role": "user", "content": "Line one\nLine two\n\n  indented\ttab"}],
    [{"role": "user", "content": "Template-looking text: {{ not_a_var }} {% raw %} <|im_end|>"}],
    [{"role": "system", "content": ""}, {"role": "user", "content": ""}],
    [{"role": "user", "content": "emoji 😀🦀 and accents café"}],
    [
        {"role": "system", "content": "You are a poet."},
        {"role": "user", "content": "Write a haiku about compilers."},
        {"role": "assistant", "content": "Tokens flow like streams\nParsed into a tree of thought\nErrors bloom in red"},
        {"role": "user", "content": "Now one about linkers?"},
    ],
    [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
    [{"role": "assistant", "content": "I speak first."}, {"role": "user", "content": "ok"}],
]

cases = []
for name, template in [("smollm2", smollm), ("chatml", CHATML), ("llama3", LLAMA3), ("mistral", MISTRAL), ("pymethods", PYMETHODS)]:
    for conv in CONVERSATIONS:
        for gen in (True, False):
            kwargs = {"bos_token": "<s>", "eos_token": "</s>"}
            try:
                rendered, _ = render_jinja_template([conv], chat_template=template, add_generation_prompt=gen, **kwargs)
                expected, error = rendered[0], None
            except Exception as e:  # the template itself refused (raise_exception)
                expected, error = None, str(e)
            cases.append({"template": name, "messages": conv, "add_generation_prompt": gen, **kwargs,
                          "rendered": expected, "error": error})

import transformers
data = {"tool": "transformers " + transformers.__version__ + " render_jinja_template",
        "templates": {"smollm2": smollm, "chatml": CHATML, "llama3": LLAMA3, "mistral": MISTRAL, "pymethods": PYMETHODS},
        "cases": cases}
with open(out, "w", encoding="utf-8") as f:
    json.dump(data, f, ensure_ascii=False, indent=1)
print(f"{len(cases)} cases ({sum(c['error'] is not None for c in cases)} raise) -> {out}")
