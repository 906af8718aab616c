// Copy-ready examples for calling a service through the gateway.

import { t } from './i18n.js';

const KEY = '<your client key>';

export function snippets(config, publicBase) {
  const base = publicBase.replace(/\/+$/, '');
  if (config.config_type !== 'llm') {
    const url = `${base}/proxy/${config.slug}/`;
    return [
      { title: t('snippets.baseUrl'), code: url },
      { title: 'curl', code: `curl -X ${config.method === 'ANY' ? 'GET' : config.method} '${url}' \\\n  -H 'X-Proxy-Key: ${KEY}'` },
    ];
  }
  const llm = `${base}/llm/${config.slug}`;
  return [
    { title: t('snippets.baseUrl'), code: llm },
    {
      title: 'curl (OpenAI Chat Completions)',
      code: `curl '${llm}/v1/chat/completions' \\\n  -H 'Authorization: Bearer ${KEY}' \\\n  -H 'Content-Type: application/json' \\\n  -d '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}'`,
    },
    {
      title: 'OpenAI SDK (Python)',
      code: `from openai import OpenAI\n\nclient = OpenAI(base_url="${llm}/v1", api_key="${KEY}")\nreply = client.chat.completions.create(\n    model="gpt-4o-mini",\n    messages=[{"role": "user", "content": "Hello"}],\n)\nprint(reply.choices[0].message.content)`,
    },
    {
      title: 'Anthropic SDK (Python)',
      code: `import anthropic\n\nclient = anthropic.Anthropic(base_url="${llm}", api_key="${KEY}")\nreply = client.messages.create(\n    model="claude-sonnet-4-5",\n    max_tokens=1024,\n    messages=[{"role": "user", "content": "Hello"}],\n)\nprint(reply.content[0].text)`,
    },
    {
      title: 'Google GenAI SDK (Python)',
      code: `from google import genai\nfrom google.genai import types\n\nclient = genai.Client(\n    api_key="${KEY}",\n    http_options=types.HttpOptions(base_url="${llm}", api_version="v1beta"),\n)\nreply = client.models.generate_content(model="gemini-2.5-flash", contents="Hello")\nprint(reply.text)`,
    },
  ];
}
