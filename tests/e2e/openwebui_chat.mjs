// One chat in Open WebUI, driven in Debian's headless Chromium through playwright-core (no
// browser download: the browser is the one at CHROMIUM).
//
//   WEBUI_URL=http://127.0.0.1:PORT MODEL=cepo-fake-model PROMPT="..." TITLE="..." \
//   SCREENSHOT=out.png CHROMIUM=/usr/bin/chromium node openwebui_chat.mjs
//
// Opens the new-chat page with MODEL selected, closes the release-notes dialog if it shows,
// types PROMPT into the chat input and sends it with Enter, then waits for what a user sees:
// the reasoning block closing ("Thought for ..."), the answer, the follow-up suggestions and
// the generated chat TITLE in the tab title (what the upstream was scripted to answer to the
// title task). Reads the chat's tags through Open WebUI's own API with the page's token, opens
// the reasoning block, takes the screenshot, and prints one JSON object on stdout with what it
// read. A wait that runs out is
// reported in the JSON ("missing") with the screenshot still taken, so the test shows what the
// page looked like; the process exits non-zero only when the browser or page fails.

import { chromium } from "playwright-core";

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) {
    console.error(`openwebui_chat.mjs: ${name} is not set`);
    process.exit(2);
  }
  return value;
};

const webuiUrl = env("WEBUI_URL");
const model = env("MODEL");
const prompt = env("PROMPT");
const expectedTitle = env("TITLE");
const screenshot = env("SCREENSHOT");
const executablePath = env("CHROMIUM", "/usr/bin/chromium");
const timeout = Number(env("STEP_TIMEOUT_MS", "90000"));

const result = { missing: [], console_errors: [] };

async function step(name, action) {
  try {
    return await action();
  } catch (error) {
    result.missing.push(`${name}: ${error.message.split("\n")[0]}`);
    return null;
  }
}

// --no-sandbox: Chromium's sandbox refuses to start as root, which is how CI and the
// development machines run.
const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 760 } });
  page.setDefaultTimeout(timeout);
  page.on("console", (message) => {
    if (message.type() === "error") result.console_errors.push(message.text().slice(0, 300));
  });

  await page.goto(`${webuiUrl}/?models=${encodeURIComponent(model)}`, { waitUntil: "load" });
  const input = page.locator("#chat-input");
  await input.waitFor();
  // The "What's New" dialog opens over the chat on a fresh install; close it like a user.
  const dismiss = page.getByRole("button", { name: "Okay, Let's Go!" });
  if (await dismiss.isVisible({ timeout: 3000 }).catch(() => false)) await dismiss.click();

  result.selected_model = await step("model selector", async () =>
    (await page.locator("[id^='model-selector-'][id$='-button']").first().innerText()).trim(),
  );

  await input.click();
  await page.keyboard.type(prompt);
  await page.keyboard.press("Enter");
  const started = Date.now();

  // The reasoning block: Open WebUI renders reasoning_content as a collapsible whose button
  // reads "Thinking..." while it streams and "Thought for ..." once it is done. Follow-ups are
  // generated after the answer is complete (one background task). Whichever shows first ends
  // the wait, so a reply without reasoning is reported without waiting the full step.
  const thought = page.getByRole("button", { name: /Thought for|^Thought$/ }).first();
  const followUps = page.getByRole("button", { name: /^Follow up: / });
  await step("reply", () => Promise.any([thought.waitFor(), followUps.first().waitFor()]));
  result.seconds_to_reply = (Date.now() - started) / 1000;
  result.reasoning_label = await step("reasoning block", async () =>
    (await thought.innerText({ timeout: 2000 })).trim(),
  );
  result.follow_ups = await step("follow-ups", async () => {
    await followUps.first().waitFor();
    return (await followUps.allInnerTexts()).map((text) => text.trim());
  });

  // The tab reads "<chat title> / Open WebUI"; until the title task answers, the title is the
  // first message.
  result.title = await step("chat title", async () => {
    await page.waitForFunction((title) => document.title.startsWith(`${title} / `), expectedTitle, {
      timeout,
    });
    return (await page.title()).split(" / ")[0];
  });
  result.chat_url = page.url();
  // Tags are the last background task, after the title: ask until the chat has some.
  result.tags = await step("chat tags", async () => {
    const chatId = new URL(page.url()).pathname.split("/c/")[1];
    const deadline = Date.now() + timeout;
    for (;;) {
      const tags = await page.evaluate(async (id) => {
        const response = await fetch(`/api/v1/chats/${id}/tags`, {
          headers: { Authorization: `Bearer ${localStorage.token}` },
        });
        return (await response.json()).map((tag) => tag.name);
      }, chatId);
      if (tags.length > 0) return tags;
      if (Date.now() > deadline) throw new Error("the chat has no tags");
      await page.waitForTimeout(500);
    }
  });

  // Read the trace with the block open, then close it again: the screenshot shows the closed
  // block, the answer and the follow-ups on one screen.
  const response = page.locator(".chat-assistant").last();
  if (result.reasoning_label !== null) {
    await thought.click();
    result.reasoning_text = await step("reasoning text", async () => {
      await page.waitForTimeout(500);
      return (await response.innerText()).trim();
    });
    await thought.click();
    await page.waitForTimeout(500);
  }
  result.assistant_text = await step("assistant message", async () =>
    (await response.innerText()).trim(),
  );
  // Park the pointer on empty space so no tooltip covers the screenshot.
  await page.mouse.move(700, 560);
  await page.waitForTimeout(300);
  await page.screenshot({ path: screenshot });
} finally {
  await browser.close();
}
process.stdout.write(`${JSON.stringify(result)}\n`);
