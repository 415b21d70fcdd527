//! LLM providers (to be built by the LLM issue): OpenAI-compatible, Anthropic and Dify clients
//! implementing chatbox-core's `LlmProvider`, one SSE parser for all three, and fake vendor
//! servers for tests.
