/** Markdown from models and people, rendered safely: the chat page, the widget and the agent console use it. */
export { Markdown, type MarkdownProps } from './Markdown';
export { isAllowedImage, safeHref } from './urls';
