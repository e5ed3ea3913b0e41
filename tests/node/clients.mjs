// The Node clients of tests/test_serve_clients.py: `node clients.mjs KIND BASE_URL` sends one
// conversation ("Tell me a joke." to gpt-4o-mini, or the Anthropic one given as JSON in argv[4])
// and prints {"text": ...} as JSON on stdout. Only 127.0.0.1 is ever the base URL.
import OpenAI from "openai";
import { generateText, streamText } from "ai";
import { createOpenAI } from "@ai-sdk/openai";
import { createAnthropic } from "@ai-sdk/anthropic";

const [kind, base, extra] = process.argv.slice(2);
const ask = extra ? JSON.parse(extra) : { model: "gpt-4o-mini", prompt: "Tell me a joke." };
const messages = [{ role: "user", content: ask.prompt }];
const signal = AbortSignal.timeout(30000);
let text;

if (kind === "openai-stream" || kind === "openai-create") {
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: "sk-test", maxRetries: 0, timeout: 30000 });
  if (kind === "openai-stream") {
    const stream = await client.chat.completions.create({ model: ask.model, messages, stream: true });
    text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
  } else {
    const completion = await client.chat.completions.create({ model: ask.model, messages });
    text = completion.choices[0].message.content;
  }
} else {
  const model = kind.startsWith("ai-openai")
    ? createOpenAI({ baseURL: `${base}/v1`, apiKey: "sk-test" }).chat(ask.model)
    : createAnthropic({ baseURL: `${base}/v1`, apiKey: "sk-ant-test" })(ask.model);
  const options = { model, messages, maxRetries: 0, abortSignal: signal };
  if (ask.maxTokens) options.maxOutputTokens = ask.maxTokens;
  if (kind.endsWith("-stream")) {
    const result = streamText({ ...options, onError: ({ error }) => { throw error; } });
    text = await result.text;
  } else {
    text = (await generateText(options)).text;
  }
}
process.stdout.write(JSON.stringify({ text }) + "\n");
