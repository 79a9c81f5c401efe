// Entry point: tabs by URL hash (#realtime, #explorer, #quality); the real-time stream runs from page load.
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { init as initExplorer } from './explorer';
import { start as startQuality, stop as stopQuality } from './quality';
import { connect } from './realtime';

let explorerStarted = false;

function route(): void {
  const tab = location.hash === '#explorer' ? 'explorer' : location.hash === '#quality' ? 'quality' : 'realtime';
  for (const id of ['realtime', 'explorer', 'quality']) (document.getElementById(id) as HTMLElement).hidden = id !== tab;
  for (const a of document.querySelectorAll<HTMLAnchorElement>('nav a')) a.classList.toggle('on', a.dataset.tab === tab);
  if (tab === 'explorer' && !explorerStarted) {
    explorerStarted = true;
    void initExplorer();
  }
  if (tab === 'quality') startQuality();
  else stopQuality();
}

window.addEventListener('hashchange', route);
route();
connect();
