import { createRoot } from 'react-dom/client';
import { App } from './App';
import { Chat } from './chat';
import { browserStore, resolveUser, webSocketUrl } from './identity';
import './styles.css';

const store = browserStore();
const chat = new Chat({ user: resolveUser(location.search, store), url: webSocketUrl(location), store });
const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');
createRoot(root).render(<App chat={chat} />);
void chat.start();
addEventListener('pagehide', () => chat.dispose());
// Restored from the back/forward cache after pagehide closed the client: start over.
addEventListener('pageshow', (event) => {
  if (event.persisted) location.reload();
});
