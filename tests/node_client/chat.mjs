// The OpenAI Node SDK as a client of cepo-proxy: one chat completion without streaming and one
// streamed, both to the model named on the command line.
//
//   node chat.mjs BASE_URL MODEL
//
// Prints one JSON object on stdout: for each call, the answer text, the reasoning text (the
// `reasoning_content` field the SDK passes through untouched), the finish reason and the usage.
// Exits non-zero when a call fails. tests/test_node_client.py runs it and checks the figures.

import OpenAI from "openai";

const [baseURL, model] = process.argv.slice(2);
if (!baseURL || !model) {
  console.error("usage: node chat.mjs BASE_URL MODEL");
  process.exit(2);
}

const client = new OpenAI({ baseURL, apiKey: "node-client-key", maxRetries: 0, timeout: 30_000 });
const messages = [{ role: "user", content: "What is 6 times 7?" }];

async function plain() {
  const reply = await client.chat.completions.create({ model, messages });
  const choice = reply.choices[0];
  return {
    model: reply.model,
    content: choice.message.content,
    reasoning: choice.message.reasoning_content ?? null,
    finish_reason: choice.finish_reason,
    usage: reply.usage,
  };
}

async function streamed() {
  const stream = await client.chat.completions.create({
    model,
    messages,
    stream: true,
    stream_options: { include_usage: true },
  });
  let content = "";
  let reasoning = "";
  let reasoningChunksBeforeContent = 0;
  let finishReason = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks += 1;
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices[0];
    if (!choice) continue;
    if (choice.delta.reasoning_content) {
      reasoning += choice.delta.reasoning_content;
      if (!content) reasoningChunksBeforeContent += 1;
    }
    if (choice.delta.content) content += choice.delta.content;
    if (choice.finish_reason) finishReason = choice.finish_reason;
  }
  return {
    content,
    reasoning,
    reasoning_chunks_before_content: reasoningChunksBeforeContent,
    chunks,
    finish_reason: finishReason,
    usage,
  };
}

try {
  const result = { plain: await plain(), streamed: await streamed() };
  process.stdout.write(`${JSON.stringify(result)}\n`);
} catch (error) {
  console.error(`chat.mjs: ${error.name}: ${error.message}`);
  process.exit(1);
}
